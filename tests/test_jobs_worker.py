"""The in-process worker: idempotent start, warm stop, a crash that loses nothing, the scheduler."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from jobs_support import Backend, failure_text
from rq import Retry
from rq.job import Job
from rq.utils import current_timestamp
from support import wait_until

from stream_or_queue import jobs
from stream_or_queue.jobs import ThreadWorker, tasks
from stream_or_queue.jobs.worker import WakeableQueue


def test_start_is_idempotent_and_stop_leaves_no_thread(
    backend: Backend, no_leaked_threads: None
) -> None:
    worker = ThreadWorker()
    worker.start()
    thread = worker._thread
    assert worker.start() is worker and worker._thread is thread
    assert worker.running
    job = jobs.get_queue().enqueue(tasks.add, 1, 2)
    jobs.wait(job)
    worker.stop()
    assert not worker.running
    worker.stop()  # stopping twice is harmless


def test_an_idle_worker_waits_for_a_job_instead_of_spinning(
    backend: Backend, no_leaked_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fakeredis answers BLMOVE on an empty list at once; WakeableQueue makes it wait.
    dequeues = []
    original = WakeableQueue.lmove.__func__  # type: ignore[attr-defined]

    def counted(cls: type, *args: object) -> object:
        dequeues.append(args)
        return original(cls, *args)

    monkeypatch.setattr(WakeableQueue, "lmove", classmethod(counted))
    with ThreadWorker() as worker:
        time.sleep(0.5)
        idle = len(dequeues)  # spinning, this was in the thousands
        job = jobs.get_queue().enqueue(tasks.add, 2, 3)
        assert jobs.wait(job, timeout=10).return_value() == 5  # a job still wakes it at once
        worker.request_stop()
        worker._thread.join(10)  # type: ignore[union-attr]
        assert not worker.running  # the stop woke the idle wait too
    assert idle <= 3


def test_stop_is_warm_the_current_job_finishes(backend: Backend, no_leaked_threads: None) -> None:
    job = jobs.get_queue().enqueue(tasks.sleep_for, 50.0)  # 0.5 s real
    worker = ThreadWorker().start()
    wait_until(lambda: job.get_status(refresh=True) == "started", what="the job to start")
    worker.stop()
    assert job.get_status(refresh=True) == "finished"


@pytest.mark.slow
def test_kill_leaves_the_job_started_and_a_new_worker_loses_nothing(
    backend: Backend, no_leaked_threads: None
) -> None:
    queue = jobs.get_queue()
    crashed = queue.enqueue(tasks.sleep_for, 200.0, retry=Retry(max=1))  # 2 s real
    waiting = [queue.enqueue(tasks.add, i, i) for i in range(3)]
    worker = ThreadWorker().start()
    wait_until(
        lambda: (jobs.get_progress(crashed) or jobs.Progress(0, "-")).percent >= 10,
        what="the job to report progress",
    )
    worker.kill()
    assert worker.killed and not worker.running
    assert crashed.get_status(refresh=True) == "started"  # no one finishes it...
    assert queue.started_job_registry.get_job_ids(cleanup=False) == [crashed.id]
    assert all(j.get_status(refresh=True) == "queued" for j in waiting)  # ...or these
    # RQ notices a dead worker when its heartbeat expires; check as if that time had come.
    queue.started_job_registry.cleanup(timestamp=current_timestamp() + 3600)
    assert crashed.get_status(refresh=True) == "queued"  # retried: Retry(max=1)
    with ThreadWorker():
        for job in [crashed, *waiting]:
            jobs.wait(job)
    assert [j.get_status() for j in [crashed, *waiting]] == ["finished"] * 4
    assert [j.return_value() for j in waiting] == [0, 2, 4]


def test_without_retry_an_abandoned_job_is_kept_in_the_failed_registry(
    backend: Backend, no_leaked_threads: None
) -> None:
    queue = jobs.get_queue()
    job = queue.enqueue(tasks.sleep_for, 500.0)
    worker = ThreadWorker().start()
    wait_until(lambda: job.get_status(refresh=True) == "started", what="the job to start")
    worker.kill()
    queue.started_job_registry.cleanup(timestamp=current_timestamp() + 3600)
    assert job.get_status(refresh=True) == "failed"
    assert job.id in queue.failed_job_registry.get_job_ids()
    assert "AbandonedJobError" in failure_text(job)


@pytest.mark.slow
def test_retry_with_intervals_needs_and_gets_the_scheduler(
    backend: Backend, no_leaked_threads: None
) -> None:
    queue = jobs.get_queue()
    job = queue.enqueue(tasks.flaky, 2, f"retry-{backend.name}", retry=Retry(max=3, interval=[1]))
    with ThreadWorker(with_scheduler=True):
        jobs.wait(job, timeout=30)
    assert job.get_status() == "finished"
    assert job.return_value() == 3  # failed twice, succeeded on the third attempt
    assert jobs.fetch(job.id).retries_left == 1


def test_retry_gives_up_after_max_and_keeps_the_job(backend: Backend) -> None:
    queue = jobs.get_queue()
    job = queue.enqueue(tasks.flaky, 5, f"giveup-{backend.name}", retry=Retry(max=2))
    with ThreadWorker():
        jobs.wait(job)
    assert job.get_status() == "failed"
    assert "attempt 3: upstream API unavailable" in failure_text(job)
    assert job.id in queue.failed_job_registry.get_job_ids()


def test_scheduled_job_runs_when_due(backend: Backend, no_leaked_threads: None) -> None:
    job = jobs.get_queue().enqueue_in(timedelta(seconds=1), tasks.add, 20, 22)
    assert job.get_status() == "scheduled"
    with ThreadWorker(with_scheduler=True):
        jobs.wait(job, timeout=30)
    assert job.return_value() == 42


def test_two_workers_run_two_jobs_at_once(backend: Backend, no_leaked_threads: None) -> None:
    queue = jobs.get_queue()
    a, b = (queue.enqueue(tasks.sleep_for, 60.0) for _ in range(2))
    with jobs.start_workers(2, kind="thread") as workers:
        assert len(workers) == 2 and workers.kind == "thread"
        jobs.wait(a)
        jobs.wait(b)
    va, vb = jobs.describe(a), jobs.describe(b)
    assert va.started_at and va.ended_at and vb.started_at and vb.ended_at
    assert va.started_at < vb.ended_at and vb.started_at < va.ended_at  # they overlapped


def test_start_workers_checks_its_arguments(backend: Backend) -> None:
    for bad in (0, -1, 33, 1.5, True):
        with pytest.raises(ValueError, match="n must be an integer"):
            jobs.start_workers(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="queues must be a list"):
        jobs.start_workers(1, queues=[""])


def test_process_workers_need_a_real_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ValueError, match="cannot reach the in-process fakeredis"):
        jobs.start_workers(1, kind="process")


def test_a_worker_on_fakeredis_is_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    workers = jobs.start_workers(1)
    try:
        assert workers.kind == "thread" and workers.running == 1
        assert "1 thread workers" in repr(workers)
    finally:
        workers.stop()
    assert workers.running == 0


def test_recover_requeues_a_job_taken_but_never_started(backend: Backend) -> None:
    queue = jobs.get_queue()
    job = queue.enqueue(tasks.add, 4, 5)
    # a worker took the job (RQ moves it to an intermediate list) and died before starting it
    intermediate = queue.intermediate_queue_key
    backend.connection.lmove(queue.key, intermediate, "LEFT", "RIGHT")
    assert queue.count == 0 and job.get_status(refresh=True) == "queued"
    recovery = jobs.recover("default")
    assert recovery.requeued == [job.id] and recovery.failed == []
    assert backend.connection.llen(intermediate) == 0 and queue.count == 1
    with ThreadWorker():
        jobs.wait(job)
    assert job.return_value() == 9


def test_recover_requeues_a_job_registered_as_started_but_never_marked_so(
    backend: Backend,
) -> None:
    from rq.executions import Execution

    queue = jobs.get_queue()
    job = queue.enqueue(tasks.add, 2, 2, retry=Retry(max=1))
    # a forking worker took the job, registered its execution, and died before the
    # work horse marked the job started: it is QUEUED, in the intermediate list only
    backend.connection.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")
    with backend.connection.pipeline() as pipeline:
        Execution.create(job, ttl=60, pipeline=pipeline)
        pipeline.execute()
    assert job.get_status(refresh=True) == "queued" and queue.count == 0
    recovery = jobs.recover("default")
    assert recovery.requeued == [job.id] and queue.count == 1
    with ThreadWorker():
        jobs.wait(job)
    assert job.return_value() == 4


def test_recover_retries_or_fails_abandoned_jobs(backend: Backend, no_leaked_threads: None) -> None:
    queue = jobs.get_queue()
    retried = queue.enqueue(tasks.sleep_for, 300.0, retry=Retry(max=1))
    failed = queue.enqueue(tasks.sleep_for, 300.0)
    for job in (retried, failed):
        worker = ThreadWorker().start()

        def started(j: Job = job) -> bool:
            return j.get_status(refresh=True) == "started"

        wait_until(started, what="the job to start")
        worker.kill()
    recovery = jobs.recover(["default"])
    assert recovery.requeued == [retried.id] and recovery.failed == [failed.id]
    assert str(recovery) == "1 requeued, 1 moved to the failed registry"
    assert "AbandonedJobError" in failure_text(failed)
    assert jobs.recover("default").requeued == []  # nothing left to recover


@pytest.mark.parametrize("worker_class", ["thread", "process"])
def test_a_worker_command_listener_stops_at_once_on_unsubscribe(
    backend: Backend, worker_class: str
) -> None:
    """RQ polls its command channel every 60 s and redis-py 8 joins that poll on stop.

    Both worker classes of the course poll quickly instead, so `unsubscribe()` (RQ's
    teardown) returns with the listener gone. With RQ's own listener this call would
    block for up to a minute: a warm `rq worker` shutdown that outlived its 30 s budget.
    """
    from stream_or_queue.jobs.process import PreloadedWorker
    from stream_or_queue.jobs.worker import COMMAND_POLL_S, ThreadSafeSimpleWorker

    cls = ThreadSafeSimpleWorker if worker_class == "thread" else PreloadedWorker
    worker = cls(["default"], connection=backend.connection)
    worker.subscribe()
    listener = worker.pubsub_thread
    assert listener is not None and listener.is_alive()
    assert listener.sleep_time == COMMAND_POLL_S < 1
    teardown = threading.Thread(target=worker.unsubscribe, daemon=True)
    teardown.start()
    teardown.join(timeout=10 * COMMAND_POLL_S + 5)  # RQ's own poll would hold it ~60 s
    assert not teardown.is_alive(), "unsubscribe() waited on the command listener"
    assert not listener.is_alive()
