"""Real `rq worker` processes on a real Redis: the same jobs, progress, emails, crash recovery."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import redis
from jobs_support import failure_text
from rq import Retry
from rq.utils import current_timestamp
from support import wait_until

from stream_or_queue import jobs
from stream_or_queue.jobs import Inbox, MailCatcher, ProcessWorker, tasks
from stream_or_queue.jobs.process import PRELOADED_WORKER, url_of
from stream_or_queue.simulator import Simulator

pytestmark = pytest.mark.serial  # measures on the wall clock: runs alone (Makefile)


@pytest.fixture
def real(real_redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """REDIS_URL set to the test Redis, flushed around the test."""
    monkeypatch.setenv("REDIS_URL", real_redis_url)
    connection = jobs.get_redis()
    connection.flushdb()
    yield connection
    jobs.stop_all_workers()
    connection.flushdb()
    connection.connection_pool.disconnect()


def test_the_command_is_rq_worker() -> None:
    worker = ProcessWorker(["default", "web"], url="redis://127.0.0.1:6379/2", name="w1")
    cmd = worker.command()
    assert cmd[:4] == [sys.executable, "-m", "rq.cli", "worker"]
    assert cmd[cmd.index("--url") + 1] == "redis://127.0.0.1:6379/2"
    assert cmd[cmd.index("--worker-class") + 1] == PRELOADED_WORKER
    assert cmd[-2:] == ["default", "web"]
    with pytest.raises(ValueError, match="real Redis URL"):
        ProcessWorker(url="fakeredis://")


def test_url_of_a_client() -> None:
    client = redis.Redis(host="127.0.0.1", port=6390, db=3)
    assert url_of(client) == "redis://127.0.0.1:6390/3"
    client.close()


@pytest.mark.real_redis
@pytest.mark.slow
def test_rq_worker_processes_run_the_report_and_email_the_user(
    real: redis.Redis, simulator: Simulator
) -> None:
    inbox = Inbox()
    with MailCatcher(inbox):
        workers = jobs.start_workers(2)
        assert workers.kind == "process" and workers.running == 2
        pids = {w.pid for w in workers}  # type: ignore[union-attr]
        report = jobs.enqueue_report(
            "heat pumps", sections=["Summary", "Risks"], notify_email="ana@example.com"
        )
        failing = jobs.get_queue().enqueue(tasks.always_fails, "in a forked horse")
        jobs.wait(report, timeout=60)
        jobs.wait(failing, timeout=60)
        wait_until(lambda: len(inbox.list()) == 1, what="the email from the work horse")
        workers.stop()
    assert workers.running == 0
    assert report.get_status() == "finished"
    value = report.return_value()
    assert value is not None
    assert [s["title"] for s in value["sections"]] == ["Summary", "Risks"]
    assert [step for _, step in jobs.progress_history(report)] == ["summary", "risks", "done"]
    assert inbox.list()[0].subject == "Ready: report on heat pumps"
    assert "RuntimeError: in a forked horse" in failure_text(failing)
    assert failing.id in jobs.get_queue().failed_job_registry.get_job_ids()
    assert len(pids) == 2 and None not in pids


@pytest.mark.real_redis
@pytest.mark.slow
def test_a_killed_rq_worker_loses_nothing(real: redis.Redis) -> None:
    queue = jobs.get_queue()
    crashed = queue.enqueue(tasks.sleep_for, 200.0, retry=Retry(max=1))  # 2 s real
    waiting = [queue.enqueue(tasks.add, i, 10) for i in range(3)]
    workers = jobs.start_workers(1)
    wait_until(
        lambda: (jobs.get_progress(crashed) or jobs.Progress(0, "-")).percent >= 10,
        what="the job to report progress",
    )
    workers.kill()  # SIGKILL: worker and work horse
    assert workers.running == 0
    assert crashed.get_status(refresh=True) == "started"
    assert all(j.get_status(refresh=True) == "queued" for j in waiting)
    # RQ notices a dead worker when its heartbeat expires; check as if that time had come.
    queue.started_job_registry.cleanup(timestamp=current_timestamp() + 3600)
    assert crashed.get_status(refresh=True) == "queued"
    with jobs.start_workers(1):
        for job in [crashed, *waiting]:
            jobs.wait(job, timeout=60)
    assert [j.get_status() for j in [crashed, *waiting]] == ["finished"] * 4
    assert [j.return_value() for j in waiting] == [10, 11, 12]


@pytest.mark.real_redis
@pytest.mark.slow
def test_stopping_an_rq_worker_is_warm(real: redis.Redis) -> None:
    job = jobs.get_queue().enqueue(tasks.sleep_for, 100.0)
    workers = jobs.start_workers(1)
    wait_until(lambda: job.get_status(refresh=True) == "started", what="the job to start")
    workers.stop()
    assert job.get_status(refresh=True) == "finished"


@pytest.mark.real_redis
@pytest.mark.slow
def test_scheduler_in_an_rq_worker_runs_retries_with_an_interval(real: redis.Redis) -> None:
    job = jobs.get_queue().enqueue(tasks.flaky, 1, "proc", retry=Retry(max=2, interval=[1]))
    with jobs.start_workers(1, with_scheduler=True):
        jobs.wait(job, timeout=60)
    assert job.get_status() == "finished" and job.return_value() == 2
