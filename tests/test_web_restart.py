"""Jobs live in Redis, not in the web process: a restart loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
import redis

from stream_or_queue._subprocess import stop_process
from stream_or_queue.serving import free_port
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.clients import follow_events, poll_job

QUESTION = "What survives a deploy of the web tier?"
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_jobs_survive_a_restart_of_the_web_process(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    first = serve_in_thread(create_app(), worker=False)  # jobs wait: nothing runs them yet
    with httpx2.Client(base_url=first.url, timeout=30) as http:
        ids = [
            http.post("/jobs", json={"question": f"{QUESTION} ({n})"}).json()["id"]
            for n in range(2)
        ]
    first.stop()
    with (
        serve_in_thread(create_app()) as second,
        httpx2.Client(base_url=second.url, timeout=30) as http,
    ):
        for job_id in ids:
            assert poll_job(http, job_id, first_s=2.0).status == "finished"
            log = follow_events(http, job_id)
            assert log.steps[0] == "queued" and log.status == "finished"
            assert http.get(f"/r/{job_id}").status_code == 200


def _start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """`python -m stream_or_queue.web` once `/healthz` answers; its output goes to `log`
    (appended), which a failure shows: a slow start and a crash look alike from here."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream_or_queue.web", "--port", str(port), "--no-worker"],
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    # One client for every probe: a new client per probe costs ~25 ms of CPU (its TLS
    # context), taken from the process it waits for.
    with httpx2.Client(timeout=1) as probe:
        while True:
            try:
                if probe.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return proc
            except httpx2.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(
                    f"the web service did not answer /healthz (exit code {proc.returncode}); "
                    f"its output:\n{log.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.1)


@pytest.mark.slow
def test_the_web_service_starts_without_loading_dbos() -> None:
    """A web process that only queues jobs must not import DBOS (and SQLAlchemy) to start:
    they were about 40% of its start-up CPU, and under load the restart below then missed
    its 30 s. The agent is imported when a worker starts in the process (or a job runs)."""
    probe = (
        "import sys, stream_or_queue.web.__main__\n"
        "print(sorted(m for m in ('dbos', 'sqlalchemy') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.real_redis
def test_real_processes_a_job_outlives_the_web_process(
    real_redis_url: str, real_redis: redis.Redis, tmp_path: Path
) -> None:
    """Web process 1 takes the job and dies; an `rq worker` runs it; web process 2 serves it."""
    env = {**os.environ, "REDIS_URL": real_redis_url, "STREAM_OR_QUEUE_TIME_SCALE": "0.01"}
    env.pop("ANTHROPIC_BASE_URL", None)
    port = free_port()
    web = _start_web(env, port, tmp_path / "web.log")
    try:
        response = httpx2.post(
            f"http://127.0.0.1:{port}/jobs", json={"question": QUESTION}, timeout=10
        )
        assert response.status_code == 202
        job_id = response.json()["id"]
    finally:
        stop_process(web, timeout=15)
    rq = Path(sys.executable).with_name("rq")
    worker = subprocess.run(
        [str(rq), "worker", "web", "--burst", "--url", real_redis_url, "--quiet"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    web = _start_web(env, port, tmp_path / "web.log")
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            view = http.get(f"/jobs/{job_id}").json()
            assert view["status"] == "finished" and view["result"]["sources"]
            log = follow_events(http, job_id)
            assert log.steps[0] == "queued" and log.status == "finished"
    finally:
        stop_process(web, timeout=15)
