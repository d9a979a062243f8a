"""Durability with real `rq worker` processes on a real Redis: `kill -9` mid-job, deploys.

These are the tests the notebook's fakeredis demo stands in for. A worker killed
with SIGKILL leaves its job `started` in RQ's StartedJobRegistry; RQ's abandoned-job
cleanup (`recover_abandoned`) re-enqueues it, and the job resumes from its last
checkpoint on another process.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rq import Queue, Retry
from rq.job import Job, JobStatus

from stream_or_queue.durable import (
    CODE_VERSION_ENV,
    Outbox,
    WorkerFleet,
    audit_trail,
    spans,
    summarize,
    wait_until,
)
from stream_or_queue.durable.demo import executions, pipeline_job
from stream_or_queue.jobs import ProcessWorker

pytestmark = [pytest.mark.real_redis, pytest.mark.slow]

QUEUE = "durable-real"
STEP_S = 5.0  # simulated s per step (0.05 real s)
SLOW_S = 150.0  # the step the worker is killed in (1.5 real s)


@pytest.fixture
def queue(real_redis: Any, monkeypatch: pytest.MonkeyPatch) -> Queue:
    monkeypatch.setenv(CODE_VERSION_ENV, "v1")  # fleets change it; restored afterwards
    return Queue(QUEUE, connection=real_redis)


@pytest.fixture
def fleet(queue: Queue) -> Iterator[Callable[..., WorkerFleet]]:
    fleets: list[WorkerFleet] = []

    def make(size: int = 1, version: str | None = None) -> WorkerFleet:
        fleets.append(
            WorkerFleet(size, [QUEUE], connection=queue.connection, version=version).start()
        )
        return fleets[-1]

    yield make
    for f in fleets:
        for worker in f.workers:
            worker.kill()  # whatever a failed test left running


def _status(job: Job) -> JobStatus | None:
    return job.get_status(refresh=True)


def _value(job: Job) -> Any:
    value = job.return_value()
    assert value is not None, f"job {job.id} returned nothing"
    return value


def _trail(job: Job) -> list[Any]:
    return audit_trail(job.id, job.connection)


def _started(job: Job, step: str, attempt: int) -> bool:
    return any(
        e.name == step and e.outcome == "started" and e.attempt == attempt for e in _trail(job)
    )


def _wait_ended(jobs: list[Job], timeout_s: float = 90.0) -> None:
    wait_until(
        lambda: all(_status(j) in (JobStatus.FINISHED, JobStatus.FAILED) for j in jobs),
        timeout_s,
        0.05,
        "jobs to end",
    )


def _assert_only_interrupted_steps_ran_twice(job: Job) -> None:
    crashed: dict[str, int] = {}
    for span in spans(_trail(job)):
        if span.outcome == "crashed":
            crashed[span.name] = crashed.get(span.name, 0) + 1
    runs = executions(job.id, job.connection)
    assert runs == {name: 1 + crashed.get(name, 0) for name in runs}, (runs, crashed)


def test_kill_9_of_a_real_rq_worker_mid_job_resumes_from_the_checkpoint(
    queue: Queue, fleet: Any
) -> None:
    workers = fleet(1)
    job = queue.enqueue(
        pipeline_job, step_s=STEP_S, durations={"summarize": SLOW_S}, retry=Retry(max=3)
    )
    wait_until(lambda: _started(job, "summarize", 1), 60, 0.02, "summarize to start")
    victim = workers.busy_worker(job.id)
    assert isinstance(victim, ProcessWorker) and victim.process is not None
    pid = victim.process.pid
    workers.kill(victim)  # SIGKILL, worker and work-horse
    assert victim.process.returncode == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _status(job) == JobStatus.STARTED  # nobody will finish it ...
    workers.start()
    assert workers.recover() == [job.id]  # ... until RQ's cleanup re-enqueues it
    _wait_ended([job])

    assert _status(job) == JobStatus.FINISHED
    assert executions(job.id, queue.connection) == {
        "search": 1,
        "read": 1,
        "summarize": 2,
        "write": 1,
    }
    summary = summarize(_trail(job))
    assert (summary.attempts, summary.steps_skipped, summary.finished_steps_reexecuted) == (2, 2, 0)
    workers_seen = {e.worker for e in _trail(job) if e.kind == "step"}
    assert len(workers_seen) == 2  # it resumed on another process
    assert Outbox(connection=queue.connection).count(job.id) == 1


def test_exactly_one_notification_per_job_under_retries_and_kills(queue: Queue, fleet: Any) -> None:
    workers = fleet(2)
    jobs = [
        queue.enqueue(
            pipeline_job,
            ("draft", "publish"),
            STEP_S,
            notify_after="draft",
            fail={"publish": 1},
            durations={"publish": SLOW_S},
            retry=Retry(max=4),
        )
        for _ in range(3)
    ]
    wait_until(lambda: _started(jobs[0], "publish", 1), 60, 0.02, "publish to start")
    victim = workers.busy_worker(jobs[0].id)
    assert victim is not None
    workers.kill(victim)
    workers.start()
    workers.recover()
    _wait_ended(jobs)
    outbox = Outbox(connection=queue.connection)
    for job in jobs:
        assert _status(job) == JobStatus.FINISHED
        assert outbox.count(job.id) == 1
        assert summarize(_trail(job)).finished_steps_reexecuted == 0


@pytest.mark.parametrize("grace_s", [60.0, 0.3], ids=["warm", "hard"])
def test_a_deploy_with_real_workers_and_jobs_in_flight_loses_none(
    queue: Queue, fleet: Any, grace_s: float
) -> None:
    workers = fleet(2, version="v1")
    jobs = [
        queue.enqueue(pipeline_job, step_s=STEP_S, durations={"read": 50.0}, retry=Retry(max=3))
        for _ in range(8)
    ]
    wait_until(lambda: sum(_started(j, "read", 1) for j in jobs) >= 2, 60, 0.02, "two in flight")
    workers.deploy("v2", grace_s=grace_s)
    _wait_ended(jobs)

    assert [_status(j) for j in jobs] == [JobStatus.FINISHED] * 8
    assert {s["version"] for j in jobs for s in _value(j)["steps"]} == {"v1", "v2"}
    outbox = Outbox(connection=queue.connection)
    for job in jobs:
        assert summarize(_trail(job)).finished_steps_reexecuted == 0
        _assert_only_interrupted_steps_ran_twice(job)
        assert outbox.count(job.id) == 1
