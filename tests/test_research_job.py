"""v2/v3 as durable RQ jobs: a crash mid-research resumes without redoing finished steps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rq.job import Job

from stream_or_queue import config
from stream_or_queue.durable import (
    CODE_VERSION_ENV,
    WorkerFleet,
    audit_trail,
    summarize,
    wait_until,
)
from stream_or_queue.jobs import Inbox, get_progress, get_queue
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.job import INBOX, RESEARCH_QUEUE, enqueue_research, research_job
from stream_or_queue.simulator import Simulator

pytestmark = pytest.mark.serial  # measures on the wall clock: runs alone (Makefile)


@pytest.fixture
def fleet(
    fake_redis: Any, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WorkerFleet]:
    monkeypatch.delenv(CODE_VERSION_ENV, raising=False)
    config.set_time_scale(0.01)
    workers = WorkerFleet(1, [RESEARCH_QUEUE]).start()
    yield workers
    workers.stop(grace_s=10.0)


def _finished(job: Job) -> bool:
    return job.get_status(refresh=True) in ("finished", "failed")


def _done(job: Job, step: str) -> bool:
    return any(e.name == step and e.outcome == "done" for e in audit_trail(job.id))


def _crash_when(fleet: WorkerFleet, job: Job, step: str, after: str = "") -> None:
    """Kill the worker once the job reports `step` (and has checkpointed step `after`),
    then let RQ hand the job on."""
    wait_until(lambda: (p := get_progress(job)) is not None and p.step == step, 30.0)
    if after:
        wait_until(lambda: _done(job, after), 30.0)
    worker = fleet.busy_worker(job.id)
    assert worker is not None
    fleet.kill(worker)
    wait_until(lambda: job.id in fleet.recover(), 10.0, 0.05, "recovery")
    fleet.start()


def test_v2_crash_mid_research_resumes_without_redoing_finished_steps(fleet: WorkerFleet) -> None:
    job = enqueue_research(QUESTIONS[3], "v2", queue=get_queue(RESEARCH_QUEUE))
    _crash_when(fleet, job, "notes")
    wait_until(lambda: _finished(job), 30.0)
    result = job.return_value()
    assert result is not None and result["attempt"] == 2
    assert result["replayed_steps"], "the second attempt replayed nothing from checkpoints"
    assert not set(result["replayed_steps"]) & set(result["executed_steps"])
    summary = summarize(audit_trail(job.id))
    assert summary.finished_steps_reexecuted == 0
    assert summary.interrupted_steps <= 1
    assert len(result["answer"].split("\n\n")) == 4
    messages = [m for m in Inbox(INBOX).list() if m.job_id == job.id]
    assert len(messages) == 1 and job.id in messages[0].body


def test_v3_crash_while_the_batch_runs_polls_the_same_batch(
    fleet: WorkerFleet, simulator: Simulator
) -> None:
    job = enqueue_research(QUESTIONS[6], "v3", queue=get_queue(RESEARCH_QUEUE))
    _crash_when(fleet, job, "writing", after="write-submit")  # while the batch runs
    wait_until(lambda: _finished(job), 60.0)
    result = job.return_value()
    assert result is not None and result["version"] == "v3"
    assert "write-submit" in result["replayed_steps"]
    assert len(simulator.batches._batches) == 1  # resumed, not paid for twice
    kinds = {(u["kind"], u["model"], u["batch"]) for u in result["usage"]}
    assert ("write", config.LARGE_MODEL, True) in kinds
    assert all(u["model"] == config.FAST_MODEL for u in result["usage"] if u["kind"] == "turn")


def test_progress_is_in_job_meta_while_it_runs(fleet: WorkerFleet) -> None:
    job = enqueue_research(QUESTIONS[7], "v2", queue=get_queue(RESEARCH_QUEUE))
    wait_until(lambda: (p := get_progress(job)) is not None and p.step == "reading", 30.0)
    wait_until(lambda: _finished(job), 30.0)
    progress = get_progress(job)
    assert progress is not None and progress.step == "done" and progress.percent == 100


@pytest.mark.parametrize(("question", "version"), [("", "v2"), ("ok?", "v4")])
def test_bad_submissions_fail_at_enqueue_time(fake_redis: Any, question: str, version: str) -> None:
    queue = get_queue(RESEARCH_QUEUE)
    with pytest.raises(ValueError):
        enqueue_research(question, version, queue=queue)
    assert queue.count == 0


def test_research_job_refuses_to_run_outside_a_worker() -> None:
    with pytest.raises(RuntimeError, match="inside an RQ worker"):
        research_job("What is a queue?")
