"""Real `rq worker` processes, for a real Redis (REDIS_URL).

This is how the course scales past one machine: the same job functions, the same
queue, but workers are separate processes - `rq worker --url $REDIS_URL` - which
RQ runs with its forking `Worker` (each job in a fresh child process, the "work
horse"). Here they are started from Python so a notebook or a test can start and
stop them; in production you would run the same command under systemd, a container
or a process manager, on as many machines as you like.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Worker
from rq.job import Job

from .. import config
from .connection import DEFAULT_QUEUE
from .worker import QuickCommandListener

__all__ = [
    "PRELOADED_WORKER",
    "CourseWorker",
    "PreloadedWorker",
    "ProcessWorker",
    "child_pids",
    "outage_retry",
    "url_of",
]

READY_TIMEOUT_S = 30.0


class PreloadedWorker(QuickCommandListener, Worker):
    """RQ's forking `Worker`, started with the course's job modules already imported.

    A forked work horse inherits its parent's imports but cannot give them back: if
    the parent never imported the job's module, every job pays for the import again
    (for this library, the SDK: about a second per job). Importing it in the parent
    once - as web servers "preload" their app before forking - removes that cost.
    Loading this class from `stream_or_queue.jobs.process` is what imports it. Its
    command listener polls quickly, so a warm shutdown is not held for a minute.
    """


PRELOADED_WORKER = f"{__name__}.PreloadedWorker"


class CourseWorker(PreloadedWorker):
    """The supervised worker (`python -m stream_or_queue.jobs`): rides out a Redis restart.

    Two changes to RQ's forking worker, both through its public surface:

    - its connection retries a failed command with backoff for about
      `config.WORKER_REDIS_RETRY_S` (a restarting Redis is back within that), where
      redis-py's default gives up after three quick tries and RQ then quits;
    - a running job's heartbeat expires `config.WORKER_HEARTBEAT_GRACE_S` after its
      last renewal instead of 60 s, so RQ's maintenance retries the job of a worker
      that vanished within half a minute.

    The intervals themselves are the course's (`config.WORKER_*`) when the class is
    built in Python; `rq worker` passes its own defaults, so the supervisor gives
    them as options too (`supervisor.course_worker_args()`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", config.WORKER_MONITOR_INTERVAL_S)
        kwargs.setdefault("maintenance_interval", config.WORKER_MAINTENANCE_INTERVAL_S)
        kwargs.setdefault("worker_ttl", config.WORKER_TTL_S)
        super().__init__(*args, **kwargs)
        self.connection.set_retry(outage_retry())

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        rq_ttl = super().get_heartbeat_ttl(job, working_time)  # RQ adds 60 s of grace
        return max(1, rq_ttl - 60 + config.WORKER_HEARTBEAT_GRACE_S)


def outage_retry() -> Retry:
    """Retry a Redis command with backoff (0.05 s doubling to 1 s) for ~`WORKER_REDIS_RETRY_S`."""
    retries = 6 + math.ceil(max(0.0, config.WORKER_REDIS_RETRY_S - 1.6))  # 0.05+...+0.8 = 1.55 s
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), retries)


def url_of(connection: redis.Redis) -> str:
    """A redis:// URL for a real Redis client (to hand to a worker process)."""
    kwargs = connection.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    auth = ""
    if kwargs.get("password"):
        auth = f"{kwargs.get('username') or ''}:{kwargs['password']}@"
    host, port, db = kwargs.get("host", "localhost"), kwargs.get("port", 6379), kwargs.get("db", 0)
    return f"redis://{auth}{host}:{port}/{db}"


def child_pids(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc; psutil elsewhere if installed)."""
    proc = Path("/proc")
    if proc.is_dir():
        children = []
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if len(fields) > 1 and fields[1] == str(pid):
                children.append(int(entry.name))
        return children
    try:
        import psutil
    except ImportError:
        return []
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


class ProcessWorker:
    """One `rq worker` process (RQ's forking Worker) on a real Redis.

    `start()` launches it and waits until it has registered in Redis; `stop()` is a
    warm shutdown (SIGTERM: finish the current job, then exit); `kill()` is a crash
    (SIGKILL to the worker and its work horse: the job is left "started").
    """

    def __init__(
        self,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        *,
        url: str,
        name: str | None = None,
        with_scheduler: bool = False,
        cwd: str | os.PathLike[str] | None = None,
        worker_class: str | None = None,
        extra_args: Sequence[str] = (),
        inherit_output: bool = False,
    ) -> None:
        """`worker_class`: a dotted path (default `PreloadedWorker`; "rq.Worker" for plain RQ).

        `extra_args`: more `rq worker` options; `inherit_output`: the worker writes to
        this process's stdout/stderr instead of a private log file (a supervisor).
        """
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"rq worker needs a real Redis URL, got {url!r}")
        self.url = url
        self.queue_names = list(queues)
        self.name = name or f"proc-{secrets.token_hex(4)}"
        self.with_scheduler = with_scheduler
        self.cwd = Path(cwd) if cwd is not None else Path.cwd()
        self.worker_class = worker_class or PRELOADED_WORKER
        self.extra_args = list(extra_args)
        self.inherit_output = inherit_output
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.killed = False
        self._stop_sent = False

    def command(self) -> list[str]:
        """The command line: what you would type in a terminal next to the Redis."""
        cmd = [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "--url",
            self.url,
            "--name",
            self.name,
            "--logging_level",
            "WARNING",
        ]
        if self.with_scheduler:
            cmd.append("--with-scheduler")
        cmd += ["--worker-class", self.worker_class, *self.extra_args]
        return cmd + self.queue_names

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["REDIS_URL"] = self.url  # library code inside jobs uses the same Redis
        env[config.TIME_SCALE_ENV] = repr(config.time_scale())
        path = [str(self.cwd), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
        return env

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, timeout: float = READY_TIMEOUT_S, wait: bool = True) -> ProcessWorker:
        """Launch the process; with `wait`, return once it has registered in Redis."""
        if self.running:
            return self
        self.killed = self._stop_sent = False
        if self.inherit_output:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            if wait:
                self.wait_ready(timeout)
            return self
        fd, log_name = tempfile.mkstemp(prefix="soq-rq-worker-", suffix=".log")
        self.log_path = Path(log_name)
        with os.fdopen(fd, "wb") as log_file:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop/kill reach only it
            )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until the worker has registered in Redis (it is then taking jobs)."""
        connection = redis.Redis.from_url(self.url)
        key = Worker.redis_worker_namespace_prefix + self.name
        deadline = time.monotonic() + timeout
        try:
            while not connection.exists(key):
                if not self.running:
                    raise RuntimeError(f"rq worker exited at start:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    self.kill()
                    raise TimeoutError(f"rq worker did not register within {timeout} s")
                time.sleep(0.05)
        finally:
            connection.close()

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def request_stop(self) -> None:
        """Send SIGTERM (a warm shutdown request) once, without waiting.

        Once: RQ takes a second SIGTERM as a cold shutdown, which kills the job.
        """
        if self.process is not None and self.process.poll() is None and not self._stop_sent:
            self._stop_sent = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown: the worker finishes its current job, then exits."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            self.request_stop()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise TimeoutError(
                    f"rq worker {self.name} did not stop within {timeout} s; killed"
                ) from None
        self._cleanup()

    def kill(self) -> None:
        """Crash: SIGKILL the work horse and the worker; the job stays "started"."""
        proc = self.process
        if proc is None:
            return
        self.killed = True
        if proc.poll() is None:
            horses = child_pids(proc.pid)  # the horse runs in its own process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # worker (and its scheduler, if any)
            for pid in horses:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        proc.wait(10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
        self.log_path = None

    def __enter__(self) -> ProcessWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if not self.killed:
            self.stop()

    def __repr__(self) -> str:
        state = "killed" if self.killed else "running" if self.running else "stopped"
        return f"ProcessWorker({self.queue_names}, {state})"
