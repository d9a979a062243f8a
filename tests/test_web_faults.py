"""The web service and its supervised workers under faults: a Redis restart, a killed worker.

Everything real and on 127.0.0.1: a private `redis-server` with AOF, the service
as `python -m stream_or_queue.web`, two workers as `python -m stream_or_queue.jobs
--workers 2`. Forty research jobs; mid-run Redis is restarted (a graceful
SHUTDOWN, down two seconds, nothing lost) and a busy worker is killed with
SIGKILL. Every job must finish, with its events in order, exactly one terminal
event, and one notification.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import redis
from services_support import missing
from support import wait_until

from stream_or_queue import config
from stream_or_queue._subprocess import stop_process
from stream_or_queue.jobs import Inbox
from stream_or_queue.jobs.process import child_pids
from stream_or_queue.serving import free_port
from stream_or_queue.web import events
from stream_or_queue.web.jobs import LOST_WORKER_MESSAGE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.real_redis,
    pytest.mark.serial,
]  # kills under load: alone

ROOT = Path(__file__).resolve().parent.parent
JOBS = 40
TIME_SCALE = "0.02"  # a research job takes a second or two of real time
DEADLINE_S = 240.0


class RedisServer:
    """A private redis-server with AOF (fsync always) that can be restarted on its port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 20, "redis-server to answer", interval=0.1)

    def _answers(self) -> bool:
        try:
            with redis.Redis.from_url(self.url, socket_connect_timeout=0.5) as conn:
                return bool(conn.ping())
        except redis.RedisError:
            return False

    def shutdown(self) -> None:
        """A graceful restart's first half: SHUTDOWN writes the AOF and exits."""
        with (
            redis.Redis.from_url(self.url) as conn,
            contextlib.suppress(redis.ConnectionError),  # it hangs up as it goes
        ):
            conn.shutdown()
        assert self.process is not None
        self.process.wait(20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        missing("redis-server")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )


def _busy_worker(supervisor_pid: int) -> int:
    """A worker process of the supervisor that runs a job right now (it has a work horse)."""
    for pid in child_pids(supervisor_pid):
        if child_pids(pid):
            return pid
    raise LookupError("no busy worker")


def test_forty_jobs_survive_a_redis_restart_and_a_killed_worker(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {**os.environ, "REDIS_URL": redis_server.url, "STREAM_OR_QUEUE_TIME_SCALE": TIME_SCALE}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH")] if p)
    port = free_port()
    web = _spawn(
        ["-m", "stream_or_queue.web", "--port", str(port), "--edge-timeout", "0"],
        env,
        tmp_path / "web.log",
    )
    supervisor = _spawn(
        ["-m", "stream_or_queue.jobs", "--workers", "2", "--url", redis_server.url, "web"],
        env,
        tmp_path / "workers.log",
    )
    conn = redis.Redis.from_url(redis_server.url)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            def ready() -> bool:
                try:
                    return http.get("/readyz").status_code == 200
                except httpx2.TransportError:
                    return False

            wait_until(ready, 60, "/readyz to answer 200 (queue up, workers seen)", interval=0.1)
            ids = []
            for n in range(JOBS):
                response = http.post("/jobs", json={"question": f"Fault test question {n}?"})
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])

            def finished() -> int:
                return sum(
                    1 for i in ids if (e := events.last_event(conn, i)) and e.step == "finished"
                )

            wait_until(lambda: finished() >= 4, 120, "the first jobs to finish", interval=0.1)
            redis_server.shutdown()
            time.sleep(2.0)  # Redis is down; the service and the workers must ride it out
            down = http.post("/jobs", json={"question": "While Redis is down?"})
            assert down.status_code == 503 and "retry-after" in down.headers
            assert down.json()["detail"]
            redis_server.start()
            conn = redis.Redis.from_url(redis_server.url)
            wait_until(
                lambda: finished() < JOBS and _has_busy(supervisor.pid),
                60,
                "a busy worker",
                interval=0.1,
            )
            victim = _busy_worker(supervisor.pid)
            # The whole worker dies, as on an OOM kill or a lost machine: its work horse
            # first, so the job cannot finish on its own while the supervisor notices.
            for pid in [*child_pids(victim), victim]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

            wait_until(
                lambda: finished() == JOBS, DEADLINE_S, f"all {JOBS} jobs to finish", interval=0.1
            )
            statuses = {http.get(f"/jobs/{i}").json()["status"] for i in ids}
            assert http.get("/readyz").status_code == 200
        assert statuses == {"finished"}
        retried_after_a_death = 0
        for job_id in ids:
            history = events.read_events(conn, job_id)
            stream_ids = [tuple(map(int, e.id.split("-"))) for e in history]
            assert stream_ids == sorted(stream_ids)
            assert [e.terminal for e in history].count(True) == 1
            assert history[-1].step == "finished"
            attempts = int(conn.get(f"soq:web:attempts:{job_id}") or 0)
            if attempts > 1:  # run again (its worker died, or Redis left mid-step): said so
                steps = [(e.step, e.message) for e in history]
                assert any(step == "retrying" for step, _ in steps), steps
                retried_after_a_death += any(m == LOST_WORKER_MESSAGE for _, m in steps)
        inbox = Inbox(config.WEB_INBOX, connection=conn)
        messages = inbox.list()
        notified = [m.job_id for m in messages if m.job_id is not None]
        assert len(notified) == len(messages)  # every notification names its job
        assert sorted(notified) == sorted(ids)  # one notification per job, none twice
        print(f"jobs that said a worker was lost: {retried_after_a_death}")  # shown with -s
        workers_log = (tmp_path / "workers.log").read_text(errors="replace")
        assert "exited" in workers_log  # the supervisor saw the killed worker and replaced it
        assert "Traceback" not in (tmp_path / "web.log").read_text(errors="replace")
    finally:
        stop_process(supervisor, timeout=30)
        stop_process(web)
        conn.close()


def _has_busy(supervisor_pid: int) -> bool:
    try:
        _busy_worker(supervisor_pid)
    except LookupError:
        return False
    return True
