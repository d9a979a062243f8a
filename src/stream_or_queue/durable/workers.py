"""Crash, recovery and deploys for durable jobs, on the course's workers.

The workers come from `stream_or_queue.jobs` (`start_workers`): on fakeredis, RQ
workers on threads of this process; on a real Redis (REDIS_URL), real `rq worker`
processes. Both have `stop()` (warm: finish the current job) and `kill()` (a crash):

* a process is killed with SIGKILL - the worker and its work-horse;
* a thread cannot be killed in Python, so `ThreadWorker.kill()` cuts it off from
  Redis: its next Redis command fails and it never writes a result, a checkpoint,
  a heartbeat or a status again. From Redis' point of view (the only view RQ has)
  the worker died on the spot; what it held in memory is lost, as in a crash.

Either way the job is left `started` in RQ's StartedJobRegistry, owned by a
worker that will never finish it. RQ's own remedy is `StartedJobRegistry.cleanup()`:
it runs in every worker's maintenance task (at start, then every
`--maintenance-interval` seconds, 10 minutes by default) and treats an execution
whose heartbeat is older than its TTL (at least 60 s) as abandoned: it calls the
job's failure callback with `AbandonedJobError`, then re-enqueues the job if it has
`Retry` budget left, or moves it to the FailedJobRegistry. `recover_abandoned()`
runs that same cleanup *now* for workers we know are dead (we killed them)
instead of waiting for their heartbeat to lapse: it marks their executions
expired and calls RQ, under the lock RQ's maintenance takes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job
from rq.worker import Worker

from ..jobs import DEFAULT_QUEUE, ProcessWorker, ThreadWorker, get_redis, is_fake, start_workers
from ..jobs.process import url_of
from .audit import AuditTrail
from .keys import attempts_key, audit_key
from .run import CODE_VERSION_ENV, code_version

__all__ = ["AnyWorker", "WorkerFleet", "recover_abandoned", "wait_until", "worker_name"]

# RQ's cleanup logs a WARNING for each job it gives up on; with no logging configured,
# Python would print it on stderr (its "last resort" handler) - into a notebook cell.
# The audit trail records it; an application that configures logging still sees it.
logging.getLogger("rq.registry").addHandler(logging.NullHandler())

AnyWorker = ThreadWorker | ProcessWorker


def wait_until(
    predicate: Any, timeout_s: float = 30.0, interval_s: float = 0.01, what: str = "condition"
) -> None:
    """Poll `predicate()` until it is true; TimeoutError after `timeout_s` real seconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(interval_s)


def worker_name(worker: AnyWorker) -> str:
    """The name the worker registered in Redis under (the one RQ records on its jobs)."""
    if isinstance(worker, ThreadWorker):
        return worker.worker.name if worker.worker is not None else str(worker.name or "")
    return worker.name


# --- recovery: RQ's abandoned-job cleanup, now -------------------------------------------------


def recover_abandoned(
    queue: Queue, dead_workers: Iterable[str], *, lock_timeout_s: float = 10.0
) -> list[str]:
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
            owner = Execution.fetch(execution_id, job_id, connection).worker_name
        except Exception:  # the execution record is gone: fall back on the job's own field
            owner = ""
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            continue
        owner = owner or str(job.worker_name or "")
        if owner not in dead:
            continue
        connection.zadd(registry.key, {f"{job_id}:{execution_id}": 0}, xx=True)
        recovered.append(job_id)
        if connection.exists(audit_key(job_id)):
            left = job.retries_left or 0
            after = "1 retry" if left - 1 == 1 else f"{left - 1} retries"
            action = (
                f"RQ re-enqueued it ({after} left)"
                if left
                else "no retries left: RQ moved it to the FailedJobRegistry"
            )
            raw: Any = connection.get(attempts_key(job_id))
            AuditTrail(job_id, connection).append(
                "run",
                "",
                int(raw or 0),
                "abandoned",
                end=time.time(),
                worker=owner,
                error=f"AbandonedJobError: its worker died mid-job; {action}",
            )
    if recovered:
        registry.cleanup()
    for name in dead:  # what a clean exit would have done: leave the worker registry
        worker = Worker.find_by_key(f"rq:worker:{name}", connection=connection)
        if worker is not None:
            worker.register_death()
    return recovered


class WorkerFleet:
    """A set of workers on some queues: start, kill, recover, stop, deploy - for demos.

    `start()` tops the fleet up to `size` live workers (`jobs.start_workers`: threads
    on fakeredis, `rq worker` processes on a real Redis), running code version
    `version` (`$SOQ_CODE_VERSION`, which the audit trail records per step).
    """

    def __init__(
        self,
        size: int = 2,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        *,
        connection: redis.Redis | None = None,
        version: str | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a fleet needs at least one worker")
        self.size = size
        self.queues = list(queues)
        self.connection = connection or get_redis()
        self.version = version or code_version()
        self.workers: list[AnyWorker] = []
        self.dead: list[str] = []

    def start(self, *, wait: bool = True) -> WorkerFleet:
        """Top the fleet up to `size` live workers.

        `wait=False` does not wait for new `rq worker` processes to register (they boot
        in the background, as replacements do in an orchestrator); threads start at once.
        """
        missing = self.size - len(self.alive())
        if missing <= 0:
            return self
        # Threads read it from this process; processes inherit it when they start.
        os.environ[CODE_VERSION_ENV] = self.version
        if wait or is_fake(self.connection):
            self.workers += list(start_workers(missing, self.queues, connection=self.connection))
        else:
            url = url_of(self.connection)
            self.workers += [
                ProcessWorker(self.queues, url=url).start(wait=False) for _ in range(missing)
            ]
        return self

    def alive(self) -> list[AnyWorker]:
        return [w for w in self.workers if w.running and not w.killed]

    def names(self) -> list[str]:
        return [worker_name(w) for w in self.alive()]

    def kill(self, worker: AnyWorker) -> None:
        """Crash one worker (SIGKILL for a process; cut off from Redis for a thread)."""
        worker.kill()
        self.dead.append(worker_name(worker))

    def busy_worker(self, job_id: str) -> AnyWorker | None:
        """The live worker running `job_id`, if any."""
        job = Job.fetch(job_id, connection=self.connection)
        return next((w for w in self.alive() if worker_name(w) == job.worker_name), None)

    def recover(self) -> list[str]:
        """Give the jobs of every killed worker back to RQ (see `recover_abandoned`)."""
        recovered: list[str] = []
        for name in self.queues:
            recovered += recover_abandoned(Queue(name, connection=self.connection), self.dead)
        return recovered

    def stop(self, grace_s: float = 30.0) -> int:
        """Stop every worker: warm, then killed after `grace_s`; return how many were killed.

        Like an orchestrator: SIGTERM to all at once, then SIGKILL to all that are still
        busy when the grace period ends - at the same moment, not one after another.
        """
        workers = self.alive()
        for worker in workers:
            worker.request_stop()
        deadline = time.monotonic() + grace_s
        overdue: list[AnyWorker] = []
        for worker in workers:
            try:
                worker.stop(max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                overdue.append(worker)  # a process is already killed; a thread is not yet
        killers = [threading.Thread(target=w.kill) for w in overdue if not w.killed]
        for killer in killers:
            killer.start()
        for killer in killers:
            killer.join()
        self.dead += [worker_name(w) for w in overdue]
        return len(overdue)

    def deploy(self, version: str, grace_s: float = 30.0) -> int:
        """A rolling-free deploy: stop every worker, start as many running `version`.

        Returns how many workers had to be killed because their job outlasted the grace
        period; their jobs go back to RQ and resume from their checkpoints.
        """
        killed = self.stop(grace_s)
        self.recover()
        self.version = version
        self.start()
        return killed

    def __enter__(self) -> WorkerFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(grace_s=10.0)
