"""Workers you can kill: crash, deploy and recovery for demos, tests and the chaos run.

Two kinds of worker, one interface (`start`, `stop`, `kill`, `name`, `alive`):

* `ProcessWorker` - a real `rq worker` process on a real Redis (REDIS_URL).
  `kill()` is `kill -9`: SIGKILL to the worker *and* its work-horse child (RQ's
  horse calls `setpgrp()`, so killing the worker alone would leave the horse
  running the job, which is not what a crashed machine does).
* `InProcessWorker` - an RQ worker on a thread of this process, on fakeredis (the
  offline default). Python cannot kill a thread, so `kill()` does the next most
  honest thing: it cuts the worker off from Redis. Every Redis command the worker
  sends from that moment blocks forever, so it can never write a result, a
  checkpoint, a heartbeat or a status again - the thread stays parked, and from
  Redis' point of view (the only view RQ has) the worker died on the spot. What
  it was computing in memory when it was cut off is lost, exactly as in a crash.

Either way the job is left `started` in RQ's StartedJobRegistry, owned by a
worker that will never finish it. RQ's own remedy is `StartedJobRegistry.cleanup()`:
it runs in every worker's maintenance task (every `--maintenance-interval`
seconds, 10 minutes by default) and treats an execution whose heartbeat is older
than its TTL (at least 60 s) as abandoned: it calls the job's failure callback
with `AbandonedJobError`, then re-enqueues the job if it has `Retry` budget left,
or moves it to the FailedJobRegistry. `recover_abandoned()` runs that same
cleanup *now* for workers we know are dead (we killed them), instead of waiting
for the heartbeat to lapse: it marks their executions expired and calls RQ.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import redis
from rq import Queue
from rq.executions import Execution
from rq.job import Job
from rq.worker import Worker

from .. import config
from ..jobs import DEFAULT_QUEUE, ThreadWorker, fake_server, get_redis, is_fake
from .audit import AuditTrail
from .keys import attempts_key, audit_key
from .run import CODE_VERSION_ENV, code_version

__all__ = [
    "InProcessWorker",
    "PreloadedWorker",
    "ProcessWorker",
    "WorkerFleet",
    "WorkerHandle",
    "recover_abandoned",
    "start_worker",
    "url_of",
    "wait_until",
]


class WorkerHandle(Protocol):
    name: str

    @property
    def alive(self) -> bool: ...

    def start(self) -> Any: ...

    def request_stop(self) -> None: ...

    def stop(self, grace_s: float = ...) -> bool: ...

    def kill(self) -> None: ...


def wait_until(predicate: Any, timeout_s: float = 30.0, interval_s: float = 0.01,
               what: str = "condition") -> None:
    """Poll `predicate()` until it is true; TimeoutError after `timeout_s` real seconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(interval_s)


def _worker_name(prefix: str = "worker") -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


# --- in-process: a worker that can be cut off from Redis ------------------------------------

_NEVER = threading.Event()


def _park_forever() -> None:
    """Where a killed in-process worker's thread ends up: blocked, never to write again."""
    while True:
        _NEVER.wait()


def _severable_fakeredis(severed: threading.Event) -> redis.Redis:
    """A fakeredis client on the shared server whose commands block once `severed` is set."""
    import fakeredis
    from fakeredis._clients._sync import FakeRedisConnection

    class SeverableConnection(FakeRedisConnection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            if severed.is_set():
                _park_forever()
            super().send_packed_command(command, check_health)

    return fakeredis.FakeRedis(server=fake_server(), connection_class=SeverableConnection)


class InProcessWorker:
    """A `ThreadWorker` (RQ SimpleWorker on a thread) whose `kill()` is a crash."""

    def __init__(
        self, queues: Sequence[str] = (DEFAULT_QUEUE,), *, name: str | None = None
    ) -> None:
        self.name = name or _worker_name()
        self.queues = list(queues)
        self._severed = threading.Event()
        self.connection = _severable_fakeredis(self._severed)
        self._thread_worker = ThreadWorker(self.queues, connection=self.connection, name=self.name)
        self.killed = False

    @property
    def alive(self) -> bool:
        return not self.killed and self._thread_worker.running

    def start(self) -> InProcessWorker:
        if self.killed:
            raise RuntimeError(f"worker {self.name} was killed; start a new one")
        self._thread_worker.start()
        return self

    def request_stop(self) -> None:
        """Ask for a warm shutdown without waiting (RQ's stop flag, as SIGTERM sets it)."""
        worker = self._thread_worker.worker
        if worker is not None and not self.killed:
            worker._stop_requested = True

    def stop(self, grace_s: float = 30.0) -> bool:
        """Warm shutdown: finish the current job; after `grace_s` s, kill. True if it was warm."""
        if self.killed:
            return False
        try:
            self._thread_worker.stop(timeout=grace_s)
        except TimeoutError:
            self.kill()
            return False
        return True

    def kill(self) -> None:
        """Crash: from now on the worker cannot send a single command to Redis."""
        self._severed.set()
        self.killed = True


# --- real processes: `rq worker` on a real Redis ---------------------------------------------


def _descendants(pid: int) -> list[int]:
    """Child processes of `pid`, recursively (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class PreloadedWorker(Worker):
    """RQ's forking `Worker`, with the course's package imported before the first fork.

    A work-horse is forked per job and imports the job's module if the parent has
    not: ~1.5 s per job for this package (the SDK is big). Naming this class with
    `--worker-class` imports it once in the parent, so every horse inherits it -
    what gunicorn calls preloading.
    """


class ProcessWorker:
    """A real `rq worker` process (`python -m rq.cli worker --url ...`)."""

    def __init__(
        self,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        *,
        url: str,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        worker_class: str | None = f"{__name__}.PreloadedWorker",
    ) -> None:
        self.name = name or _worker_name()
        self.queues = list(queues)
        self.url = url
        self.env = dict(env or {})
        self.worker_class = worker_class
        self.process: subprocess.Popen[bytes] | None = None
        self._term_sent = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, ready_timeout_s: float = 60.0) -> ProcessWorker:
        """Spawn the worker and wait until it has registered in Redis."""
        return self.spawn().wait_ready(ready_timeout_s)

    def spawn(self) -> ProcessWorker:
        """Start the process without waiting (start several, then `wait_ready` each)."""
        if self.process is not None:
            return self
        env = {**os.environ, **self.env}
        env.setdefault("STREAM_OR_QUEUE_TIME_SCALE", repr(config.time_scale()))
        env.setdefault(CODE_VERSION_ENV, code_version())
        env["REDIS_URL"] = self.url
        command = [sys.executable, "-m", "rq.cli", "worker", "--url", self.url, "--name", self.name,
                   "--logging_level", "WARNING"]
        if self.worker_class:
            command += ["--worker-class", self.worker_class]
        self.process = subprocess.Popen(
            [*command, *self.queues], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> ProcessWorker:
        """Wait until the worker has registered in Redis (it is then listening)."""
        if self.process is None:
            raise RuntimeError("spawn() the worker first")
        connection = redis.Redis.from_url(self.url)
        try:
            wait_until(lambda: bool(connection.exists(f"rq:worker:{self.name}")) or not self.alive,
                       timeout_s, 0.05, f"worker {self.name} registration")
        finally:
            connection.close()
        if not self.alive:
            code = self.process.returncode
            raise RuntimeError(f"rq worker {self.name} exited at start (code {code})")
        return self

    def request_stop(self) -> None:
        """SIGTERM without waiting: RQ's warm shutdown (finish the current job, then exit).

        Sent once: a second SIGTERM would make RQ shut down cold, killing the job.
        """
        if self.alive and not self._term_sent:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            self._term_sent = True

    def stop(self, grace_s: float = 30.0) -> bool:
        """SIGTERM (RQ's warm shutdown: finish the current job); SIGKILL after `grace_s` s."""
        if not self.alive:
            return False
        assert self.process is not None
        self.request_stop()
        try:
            self.process.wait(timeout=grace_s)
            return True
        except subprocess.TimeoutExpired:
            self.kill()
            return False

    def kill(self) -> None:
        """`kill -9` the worker and its work-horse: a crashed machine, a container OOM-kill."""
        if self.process is None:
            return
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def start_worker(
    queues: Sequence[str] = (DEFAULT_QUEUE,),
    *,
    connection: redis.Redis | None = None,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> InProcessWorker | ProcessWorker:
    """A started worker of the right kind: a process on a real Redis, a thread on fakeredis."""
    return _new_worker(queues, connection=connection, name=name, env=env).start()


def _new_worker(
    queues: Sequence[str],
    *,
    connection: redis.Redis | None = None,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> InProcessWorker | ProcessWorker:
    connection = connection or get_redis()
    if is_fake(connection):
        return InProcessWorker(queues, name=name)
    return ProcessWorker(queues, url=url_of(connection), name=name, env=env)


def url_of(connection: redis.Redis) -> str:
    """The URL a worker process needs to reach the same Redis as `connection`."""
    kw = connection.connection_pool.connection_kwargs
    db = kw.get("db", 0)
    if kw.get("path"):
        return f"unix://{kw['path']}?db={db}"
    auth = ""
    if kw.get("password"):
        user = quote(str(kw.get("username") or ""), safe="")
        auth = f"{user}:{quote(str(kw['password']), safe='')}@"
    ssl = "SSL" in connection.connection_pool.connection_class.__name__
    scheme = "rediss" if ssl else "redis"
    return f"{scheme}://{auth}{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{db}"


# --- recovery: RQ's abandoned-job cleanup, now -------------------------------------------------


def recover_abandoned(queue: Queue, dead_workers: Iterable[str], *,
                      lock_timeout_s: float = 10.0) -> list[str]:
    """Hand the jobs of `dead_workers` to RQ's abandoned-job cleanup; return their ids.

    Their executions in the queue's StartedJobRegistry are marked expired, then
    `StartedJobRegistry.cleanup()` does what it does for any abandoned job: failure
    callback with `AbandonedJobError`, then `job.retry()` (re-enqueue) while the job
    has retries left, else the FailedJobRegistry. A durable job's audit trail gets a
    `run abandoned` entry saying which worker died and what RQ did.
    """
    dead = set(dead_workers)
    # RQ workers clean registries under the queue's maintenance lock (a new worker does
    # so when it starts): two cleanups at once would re-enqueue the same job twice.
    locked = _acquire_maintenance_lock(queue, lock_timeout_s)
    try:
        return _recover(queue, dead)
    finally:
        if locked:
            queue.release_maintenance_lock()


def _acquire_maintenance_lock(queue: Queue, timeout_s: float) -> bool:
    """The lock RQ's maintenance task takes; False if it is still held after `timeout_s`.

    A worker killed while it held the lock leaves it behind for 15 minutes; nobody is
    cleaning then, so going ahead without it is safe.
    """
    deadline = time.monotonic() + timeout_s
    while not queue.acquire_maintenance_lock():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _recover(queue: Queue, dead: set[str]) -> list[str]:
    connection = queue.connection
    registry = queue.started_job_registry
    recovered: list[str] = []
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        try:
            worker_name = Execution.fetch(execution_id, job_id, connection).worker_name
        except Exception:  # the execution record is gone: fall back on the job's own field
            worker_name = ""
        job = Job.fetch(job_id, connection=connection)
        worker_name = worker_name or str(job.worker_name or "")
        if worker_name not in dead:
            continue
        connection.zadd(registry.key, {f"{job_id}:{execution_id}": 0}, xx=True)
        recovered.append(job_id)
        if connection.exists(audit_key(job_id)):
            left = job.retries_left or 0
            action = (f"RQ re-enqueued it ({left - 1} retries left after this one)" if left
                      else "no retries left: RQ moved it to the FailedJobRegistry")
            raw: Any = connection.get(attempts_key(job_id))
            attempt = int(raw or 0)
            AuditTrail(job_id, connection).append(
                "run", "", attempt, "abandoned", end=time.time(), worker=worker_name,
                error=f"AbandonedJobError: worker {worker_name} died mid-job; {action}")
    if recovered:
        registry.cleanup()
    for worker_name in dead:  # what a clean exit would have done: leave the worker registry
        worker = Worker.find_by_key(f"rq:worker:{worker_name}", connection=connection)
        if worker is not None:
            worker.register_death()
    return recovered


class WorkerFleet:
    """A set of workers on one queue: start, kill, deploy, recover - what the demos need."""

    def __init__(self, size: int = 2, queues: Sequence[str] = (DEFAULT_QUEUE,), *,
                 connection: redis.Redis | None = None, version: str | None = None) -> None:
        if size < 1:
            raise ValueError("a fleet needs at least one worker")
        self.size = size
        self.queues = list(queues)
        self.connection = connection or get_redis()
        self.version = version or code_version()
        self.workers: list[InProcessWorker | ProcessWorker] = []
        self.dead: list[str] = []

    @property
    def queue(self) -> Queue:
        return Queue(self.queues[0], connection=self.connection)

    def start(self) -> WorkerFleet:
        os.environ[CODE_VERSION_ENV] = self.version  # in-process workers read it from here
        new = [_new_worker(self.queues, connection=self.connection,
                           env={CODE_VERSION_ENV: self.version})
               for _ in range(self.size - len(self.alive()))]
        for worker in new:  # processes boot in parallel
            if isinstance(worker, ProcessWorker):
                worker.spawn()
        for worker in new:
            worker.start()
        self.workers += new
        return self

    def alive(self) -> list[InProcessWorker | ProcessWorker]:
        return [w for w in self.workers if w.alive]

    def kill(self, worker: InProcessWorker | ProcessWorker) -> None:
        worker.kill()
        self.dead.append(worker.name)

    def busy_worker(self, job_id: str) -> InProcessWorker | ProcessWorker | None:
        """The live worker running `job_id`, if any."""
        job = Job.fetch(job_id, connection=self.connection)
        return next((w for w in self.alive() if w.name == job.worker_name), None)

    def recover(self) -> list[str]:
        """Give the jobs of every killed worker back to RQ (see `recover_abandoned`)."""
        recovered: list[str] = []
        for name in self.queues:
            recovered += recover_abandoned(Queue(name, connection=self.connection), self.dead)
        return recovered

    def stop(self, grace_s: float = 30.0) -> int:
        """Stop every worker (warm, then killed after `grace_s`); return how many were killed."""
        killed = 0
        workers = self.alive()
        for worker in workers:  # all at once, as an orchestrator sends SIGTERM to every pod
            worker.request_stop()
        deadline = time.monotonic() + grace_s
        for worker in workers:
            if not worker.stop(max(deadline - time.monotonic(), 0.0)):
                killed += 1
                self.dead.append(worker.name)
        return killed

    def deploy(self, version: str, grace_s: float = 30.0) -> int:
        """Stop every worker, then start the same number running `version`."""
        killed = self.stop(grace_s)
        self.recover()
        self.version = version
        self.start()
        return killed

    def __enter__(self) -> WorkerFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(grace_s=10.0)
