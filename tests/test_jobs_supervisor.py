"""Supervised workers: a SIGKILLed worker is replaced, its horse killed, its job retried at once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue, Retry, Worker
from rq.job import Job, JobStatus
from support import wait_until

from stream_or_queue import config
from stream_or_queue.jobs import Supervisor, live_workers, tasks
from stream_or_queue.jobs.process import CourseWorker, child_pids
from stream_or_queue.jobs.supervisor import COURSE_WORKER, course_worker_args, main

QUEUE = "supervised"


@pytest.fixture
def real(real_redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(real_redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def test_the_workers_get_the_course_timings() -> None:
    args = course_worker_args()
    assert args[args.index("--job-monitoring-interval") + 1] == str(
        config.WORKER_MONITOR_INTERVAL_S
    )
    assert args[args.index("--maintenance-interval") + 1] == str(
        config.WORKER_MAINTENANCE_INTERVAL_S
    )
    supervisor_worker = Supervisor([QUEUE], url="redis://127.0.0.1:1/0", workers=1)
    command = supervisor_worker.slots[0].worker.command()
    assert command[command.index("--worker-class") + 1] == COURSE_WORKER
    supervisor_worker.connection.close()


def test_the_command_needs_a_url_and_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SystemExit):
        main(["--workers", "2", "web"])
    with pytest.raises(SystemExit):
        main(["--workers", "0", "--url", "redis://127.0.0.1:1/0", "web"])


@pytest.mark.real_redis
def test_a_job_heartbeat_expires_after_the_course_grace(real: redis.Redis) -> None:
    worker = CourseWorker([Queue(QUEUE, connection=real)], connection=real)
    job = Queue(QUEUE, connection=real).enqueue(tasks.noop, job_timeout=600)
    assert worker.get_heartbeat_ttl(job) == (
        config.WORKER_MONITOR_INTERVAL_S + config.WORKER_HEARTBEAT_GRACE_S
    )
    assert worker.connection.get_retry() is not None
    assert worker.connection.get_retry().get_retries() >= 10  # type: ignore[union-attr]


@pytest.mark.real_redis
@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_job_retried_at_once(
    real: redis.Redis, real_redis_url: str
) -> None:
    supervisor = Supervisor([QUEUE], url=real_redis_url, workers=1, inherit_output=False)
    supervisor.start()
    try:
        queue = Queue(QUEUE, connection=real)
        wait_until(lambda: live_workers(queue, 30) == 1, what="the worker to register")
        # 2,000 simulated s at the default scale: 20 real seconds, far longer than the test
        job = queue.enqueue(tasks.sleep_for, 2_000, retry=Retry(max=1), job_timeout=600)
        wait_until(lambda: job.get_status(refresh=True) == JobStatus.STARTED, what="the job")
        worker_pid = supervisor.pids[0]
        horse = child_pids(worker_pid)
        assert len(horse) == 1
        os.kill(worker_pid, signal.SIGKILL)

        def replaced() -> bool:
            supervisor.supervise_once()
            return supervisor.replaced == 1

        wait_until(replaced, what="a replacement")
        # handed back by the supervisor as it saw the death, not after the heartbeat expired
        assert supervisor.requeued == [job.id]
        wait_until(lambda: not _alive(horse[0]), what="the orphaned horse to die")
        job = Job.fetch(job.id, connection=real)
        assert job.retries_left == 0  # RQ's own retry took it
        wait_until(lambda: job.get_status(refresh=True) == JobStatus.STARTED, what="a rerun")
        assert job.worker_name != ""
        replacement = supervisor.slots[0].worker.name
        # the dead worker is deregistered at once, not when its key expires
        wait_until(
            lambda: {w.name for w in Worker.all(queue=queue)} == {replacement},
            what="only the replacement registered",
        )
    finally:
        for slot in supervisor.slots:
            slot.worker.kill()
        supervisor.connection.close()


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped has stopped running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.real_redis
@pytest.mark.serial  # a worker killed mid-job: its waits are on the wall clock
def test_a_web_job_whose_worker_died_says_so_and_ends_once(
    real: redis.Redis, real_redis_url: str
) -> None:
    """The research job of the web service, its worker (and work horse) killed mid-job."""
    from stream_or_queue.web import events as web_events
    from stream_or_queue.web.jobs import LOST_WORKER_MESSAGE, submit

    supervisor = Supervisor([QUEUE], url=real_redis_url, workers=1, inherit_output=False)
    supervisor.start()
    try:
        queue = Queue(QUEUE, connection=real)
        wait_until(lambda: live_workers(queue, 30) == 1, what="the worker to register")
        # 0.05 real s per simulated s: the agent's minute or two takes several seconds
        job = submit("How do retries and durability fit together?", queue=queue, time_scale=0.05)

        def working() -> bool:
            last = web_events.last_event(real, job.id)
            return last is not None and last.step != "queued"

        wait_until(working, what="the job's first step")
        worker_pid = supervisor.pids[0]
        for pid in [*child_pids(worker_pid), worker_pid]:  # an OOM kill takes both
            os.kill(pid, signal.SIGKILL)

        def ended() -> bool:
            supervisor.supervise_once()
            last = web_events.last_event(real, job.id)
            return last is not None and last.terminal

        wait_until(ended, timeout=120, what="the retried job to end")
        history = web_events.read_events(real, job.id)
        assert [e.terminal for e in history].count(True) == 1
        assert history[-1].step == "finished"
        assert [e.message for e in history].count(LOST_WORKER_MESSAGE) == 1
        assert supervisor.replaced == 1
    finally:
        for slot in supervisor.slots:
            slot.worker.kill()
        supervisor.connection.close()
