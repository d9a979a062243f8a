"""The web service's research job on DBOS: start-then-poll, SSE, a killed worker's job."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import redis
from dbos import DBOS
from durable_support import sqlite_url, wait_for

from stream_or_queue import config
from stream_or_queue._subprocess import stop_process
from stream_or_queue.durable import engine
from stream_or_queue.jobs import Inbox
from stream_or_queue.jobs.process import child_pids
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, events, serve_in_thread
from stream_or_queue.web import jobs as web_jobs
from stream_or_queue.web.clients import follow_events, poll_job

ROOT = Path(__file__).resolve().parent.parent

QUESTION = "Why do long agent requests fail behind a load balancer?"


@pytest.fixture
def web_on_dbos(tmp_path: Path, simulator: Simulator, fake_redis: redis.Redis) -> Iterator[object]:
    engine.launch(sqlite_url(tmp_path), executor_id="web")
    running = serve_in_thread(create_app())
    yield running
    running.stop()
    engine.shutdown()


def test_a_web_job_runs_as_a_dbos_workflow_with_progress_and_permalink(
    web_on_dbos: object,
) -> None:
    with httpx2.Client(base_url=web_on_dbos.url, timeout=30) as http:  # type: ignore[attr-defined]
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        first = follow_events(http, job_id, stop_after=3)  # hang up mid-job...
        rest = follow_events(http, job_id, last_event_id=first.last_event_id)  # ...reattach
        outcome = poll_job(http, job_id, first_s=2.0)
        page = http.get(f"/r/{job_id}")
    steps = [e.json()["step"] for e in first.events + rest.events]  # type: ignore[index]
    assert steps[0] == "queued" and steps[-1] == "finished"
    assert {"searching", "reading", "writing"} <= set(steps)
    assert outcome.status == "finished" and outcome.view["result"]["sources"]
    assert page.status_code == 200
    status = DBOS.get_workflow_status(job_id)  # the workflow id is the job id
    assert status is not None and status.status == "SUCCESS"
    assert outcome.view["result"]["permalink"] == f"/r/{job_id}"


def test_the_web_job_hook_is_the_dbos_workflow() -> None:
    from stream_or_queue.research import durable

    assert web_jobs.run_research is durable.run_research


def _busy_worker(supervisor: int) -> int | None:
    return next((pid for pid in child_pids(supervisor) if child_pids(pid)), None)


@pytest.mark.slow
@pytest.mark.real_redis
@pytest.mark.serial  # a real worker killed mid-job: its waits are on the wall clock
def test_a_killed_workers_job_resumes_its_workflow_and_notifies_once(
    real_redis_url: str, real_redis: redis.Redis, tmp_path: Path
) -> None:
    """SIGKILL the worker and its work horse mid-job: the retried job's new horse recovers
    the job's workflow (same executor), the page's events go on without repeats, one email."""
    url = sqlite_url(tmp_path)
    env = {
        **os.environ,
        "REDIS_URL": real_redis_url,
        config.DURABLE_DATABASE_URL_ENV: url,
        "STREAM_OR_QUEUE_TIME_SCALE": "0.05",
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH")] if p)
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stream_or_queue.jobs",
            "--workers",
            "1",
            "--url",
            real_redis_url,
            "web",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        job = web_jobs.submit(
            "Why do long agent requests fail behind a load balancer?",
            queue=web_jobs.get_queue(config.WEB_QUEUE, connection=real_redis),
        )

        def agent_events() -> list[tuple[str, str]]:
            return [
                (e.step, e.message)
                for e in events.read_events(real_redis, job.id)
                if e.step not in ("queued", "retrying") and not e.terminal
            ]

        wait_for(lambda: len(agent_events()) >= 3, "three steps of the job", 120)
        victim = _busy_worker(supervisor.pid)
        assert victim is not None
        for pid in [*child_pids(victim), victim]:  # the horse first: it must not finish
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        before = len(agent_events())
        wait_for(
            lambda: (e := events.last_event(real_redis, job.id)) is not None and e.terminal,
            "the job to end",
            240,
        )
    finally:
        stop_process(supervisor, timeout=30)
    history = events.read_events(real_redis, job.id)
    assert history[-1].step == "finished"
    assert web_jobs.LOST_WORKER_MESSAGE in [e.message for e in history]
    forwarded = agent_events()
    assert len(forwarded) > before and len(set(forwarded)) == len(forwarded)  # no repeats
    client = engine.client(url)
    try:
        status = client.retrieve_workflow(job.id).get_status()
        steps = [s["function_name"] for s in client.list_workflow_steps(job.id)]
    finally:
        client.destroy()
    assert status.status == "SUCCESS" and status.executor_id == f"job-{job.id}"
    names = [n for n in steps if not n.startswith("DBOS.")]  # stream writes repeat by design
    assert "turn-0" in names and len(names) == len(set(names))  # each step recorded once
    inbox = Inbox(config.WEB_INBOX, connection=real_redis).list()
    assert [m.job_id for m in inbox] == [job.id]
