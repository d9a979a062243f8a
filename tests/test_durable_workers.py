"""Durable jobs on real RQ workers in this process (fakeredis): crash, resume, deploy, pause.

`ThreadWorker.kill()` (stream_or_queue.jobs) cuts the worker off from Redis mid-job; RQ's
abandoned-job cleanup (`recover_abandoned`) hands the job to another worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rq import Retry
from rq.job import Job, JobStatus
from rq.suspension import resume, suspend
from rq.worker import Worker, WorkerStatus

from stream_or_queue.durable import (
    CODE_VERSION_ENV,
    Outbox,
    WorkerFleet,
    audit_trail,
    spans,
    summarize,
    wait_until,
    worker_name,
)
from stream_or_queue.durable.demo import always_fails_job, executions, pipeline_job
from stream_or_queue.jobs import get_queue

QUEUE = "durable-test"
STEP_S = 5.0  # simulated seconds per step: 0.05 real s
SLOW_S = 100.0  # the step a test kills the worker in: 1 real s, time enough to notice it started


@pytest.fixture
def queue(fake_redis: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(CODE_VERSION_ENV, "v1")  # fleets change it; restored afterwards
    yield get_queue(QUEUE)


@pytest.fixture
def fleet(queue: Any) -> Iterator[Callable[..., WorkerFleet]]:
    """Start fleets on the test queue; every worker is stopped when the test ends."""
    fleets: list[WorkerFleet] = []

    def make(size: int = 1, version: str | None = None) -> WorkerFleet:
        fleets.append(WorkerFleet(size, [QUEUE], version=version).start())
        return fleets[-1]

    yield make
    for f in fleets:
        f.stop(grace_s=10.0)


def _step_done(job_id: str, step: str) -> bool:
    return any(e.name == step and e.outcome == "done" for e in audit_trail(job_id))


def _step_started(job_id: str, step: str, attempt: int) -> bool:
    return any(
        e.name == step and e.outcome == "started" and e.attempt == attempt
        for e in audit_trail(job_id)
    )


def _status(job: Job) -> JobStatus | None:
    return job.get_status(refresh=True)


def _wait_finished(jobs: list[Job], timeout_s: float = 60.0) -> None:
    wait_until(
        lambda: all(_status(j) in (JobStatus.FINISHED, JobStatus.FAILED) for j in jobs),
        timeout_s,
        what="jobs to end",
    )


def _assert_only_interrupted_steps_ran_twice(job: Job) -> None:
    """Every step ran once, plus once more for each time its worker died while running it."""
    crashed: dict[str, int] = {}
    for span in spans(audit_trail(job.id)):
        if span.outcome == "crashed":
            crashed[span.name] = crashed.get(span.name, 0) + 1
    runs = executions(job.id, job.connection)
    assert runs == {name: 1 + crashed.get(name, 0) for name in runs}, (runs, crashed)


def _kill_during(workers: WorkerFleet, job: Job, step: str, attempt: int = 1) -> None:
    """Kill the worker running `job` once `step` has started (make that step slow)."""
    wait_until(lambda: _step_started(job.id, step, attempt), 30, what=f"step {step} of {job.id}")
    worker = workers.busy_worker(job.id)
    assert worker is not None, (job.worker_name, [w.name for w in workers.workers], workers.dead)
    workers.kill(worker)


def test_a_killed_worker_leaves_its_job_started_until_rq_recovers_it(
    queue: Any, fleet: Any
) -> None:
    workers = fleet(1)
    job = queue.enqueue(
        pipeline_job, step_s=STEP_S, durations={"summarize": SLOW_S}, retry=Retry(max=3)
    )
    _kill_during(workers, job, "summarize")
    assert _status(job) == JobStatus.STARTED  # a crash leaves it "started" ...
    assert job.id in queue.started_job_registry.get_job_ids(cleanup=False)
    workers.start()
    assert workers.recover() == [job.id]  # ... until RQ's abandoned-job cleanup
    _wait_finished([job])
    workers.stop()

    assert _status(job) == JobStatus.FINISHED
    assert executions(job.id, queue.connection) == {
        "search": 1,
        "read": 1,
        "summarize": 2,
        "write": 1,
    }
    _assert_only_interrupted_steps_ran_twice(job)
    summary = summarize(audit_trail(job.id))
    assert summary.attempts == 2
    assert summary.finished_steps_reexecuted == 0
    assert summary.steps_skipped == 2
    assert summary.interrupted_steps == 1
    assert Outbox().count(job.id) == 1
    abandoned = [e for e in audit_trail(job.id) if e.outcome == "abandoned"]
    assert len(abandoned) == 1 and "AbandonedJobError" in abandoned[0].error
    # the dead worker no longer shows as a worker
    assert workers.dead[0] not in [w.name for w in Worker.all(queue=queue)]


def test_a_worker_killed_twice_in_a_row(queue: Any, fleet: Any) -> None:
    workers = fleet(1)
    job = queue.enqueue(
        pipeline_job, step_s=STEP_S, durations={"read": SLOW_S, "write": SLOW_S}, retry=Retry(max=3)
    )
    _kill_during(workers, job, "read")
    workers.start()
    workers.recover()
    _kill_during(workers, job, "write", attempt=2)
    workers.start()
    workers.recover()
    _wait_finished([job])
    workers.stop()

    assert _status(job) == JobStatus.FINISHED
    assert job.return_value()["attempt"] == 3
    assert executions(job.id, queue.connection) == {
        "search": 1,
        "read": 2,
        "summarize": 1,
        "write": 2,
    }
    _assert_only_interrupted_steps_ran_twice(job)
    summary = summarize(audit_trail(job.id))
    assert summary.attempts == 3 and summary.finished_steps_reexecuted == 0
    assert Outbox().count(job.id) == 1


def test_a_crash_without_retry_budget_fails_and_requeue_resumes_it(queue: Any, fleet: Any) -> None:
    workers = fleet(1)
    job = queue.enqueue(pipeline_job, step_s=STEP_S, durations={"read": SLOW_S})  # no Retry
    _kill_during(workers, job, "read")
    workers.recover()
    assert _status(job) == JobStatus.FAILED
    assert job.id in queue.failed_job_registry.get_job_ids()
    assert "AbandonedJobError" in audit_trail(job.id)[-1].error
    assert "FailedJobRegistry" in audit_trail(job.id)[-1].error

    queue.failed_job_registry.requeue(job.id)  # an operator's second chance
    workers.start()
    _wait_finished([job])
    assert _status(job) == JobStatus.FINISHED
    assert executions(job.id, queue.connection) == {
        "search": 1,
        "read": 2,
        "summarize": 1,
        "write": 1,
    }


def test_a_step_that_always_fails_exhausts_its_retries(queue: Any, fleet: Any) -> None:
    fleet(1)
    job = queue.enqueue(always_fails_job, step_s=STEP_S, retry=Retry(max=2))
    _wait_finished([job])
    assert _status(job) == JobStatus.FAILED
    assert job.id in queue.failed_job_registry.get_job_ids()
    assert executions(job.id, queue.connection) == {"search": 1, "fetch": 3}
    runs = [(e.attempt, e.outcome) for e in audit_trail(job.id) if e.kind == "run"]
    assert runs == [
        (1, "started"),
        (1, "failed"),
        (2, "started"),
        (2, "failed"),
        (3, "started"),
        (3, "gave-up"),
    ]
    last = audit_trail(job.id)[-1]
    assert "UpstreamError" in last.error and "no retries left" in last.error


def test_exactly_one_notification_per_job_under_retries(queue: Any, fleet: Any) -> None:
    fleet(2)
    jobs = [
        queue.enqueue(
            pipeline_job,
            ("draft", "publish"),
            STEP_S,
            notify_after="draft",
            fail={"publish": 2},
            retry=Retry(max=3),
        )
        for _ in range(4)
    ]
    _wait_finished(jobs)
    outbox = Outbox()
    for job in jobs:
        assert _status(job) == JobStatus.FINISHED
        assert job.return_value()["attempt"] == 3
        assert outbox.count(job.id) == 1
    assert outbox.duplicates_dropped == 0


@pytest.mark.parametrize("grace_s", [60.0, 0.0], ids=["warm", "hard"])
def test_a_deploy_with_jobs_in_flight_loses_none(queue: Any, fleet: Any, grace_s: float) -> None:
    workers = fleet(2, version="v1")
    jobs = [queue.enqueue(pipeline_job, step_s=STEP_S, retry=Retry(max=3)) for _ in range(6)]
    wait_until(lambda: sum(_step_done(j.id, "search") for j in jobs) >= 2, 30, what="two started")
    workers.deploy("v2", grace_s=grace_s)
    _wait_finished(jobs)
    workers.stop()

    assert [_status(j) for j in jobs] == [JobStatus.FINISHED] * 6
    versions = {step["version"] for j in jobs for step in j.return_value()["steps"]}
    assert versions == {"v1", "v2"}
    for job in jobs:
        summary = summarize(audit_trail(job.id))
        assert summary.finished_steps_reexecuted == 0
        _assert_only_interrupted_steps_ran_twice(job)
        assert Outbox().count(job.id) == 1


def test_suspend_pauses_between_jobs_and_resume_continues(queue: Any, fleet: Any) -> None:
    """RQ checks the suspension flag before it dequeues: the job in progress finishes."""
    name = worker_name(fleet(1).workers[0])
    jobs = [
        queue.enqueue(pipeline_job, step_s=STEP_S, durations={"read": SLOW_S}) for _ in range(4)
    ]
    wait_until(lambda: _step_started(jobs[0].id, "read", 1), 30, what="first job to start")
    suspend(queue.connection)

    def suspended() -> bool:
        worker = Worker.find_by_key(f"rq:worker:{name}", connection=queue.connection)
        assert worker is not None, f"worker {name} is not registered"
        return worker.get_state() == WorkerStatus.SUSPENDED

    wait_until(suspended, 30, what="worker to suspend")
    assert _status(jobs[0]) == JobStatus.FINISHED  # in flight: finished
    assert [_status(j) for j in jobs[1:]] == [JobStatus.QUEUED] * 3  # the rest: held
    resume(queue.connection)
    _wait_finished(jobs)
    assert [_status(j) for j in jobs] == [JobStatus.FINISHED] * 4


def test_a_fleet_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WorkerFleet(0)
