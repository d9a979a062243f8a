"""An RQ worker inside the notebook's process, on a background thread.

RQ's `SimpleWorker` runs jobs in its own process instead of forking, which is what
a notebook needs: no fork of a Jupyter kernel, and it works on fakeredis. Two
adjustments make it thread-safe (verified on RQ 3.0; every RQ and fakeredis internal
relied on is in `compat`, with its contract test): signal handlers can only be
installed from the main thread, and the default death penalty uses SIGALRM, so
timeouts use a timer thread instead.

Three more things a notebook needs, added here:

- `stop()` is a warm shutdown that returns within about a second when idle;
- `kill()` simulates a crash (a kernel restart, an OOM kill, a deploy): from that
  moment the worker cannot talk to Redis, so its current job stays "started" with
  no one working on it - exactly what a dead process leaves behind;
- `with_scheduler=True` moves due scheduled jobs (`enqueue_in`, `Retry` with an
  interval) onto their queue, as `rq worker --with-scheduler` does in a process;
- on fakeredis an idle worker really sleeps: fakeredis answers BLMOVE on an empty
  list at once instead of blocking, so an RQ worker there would spin through
  thousands of dequeues and heartbeats a second (see `WakeableQueue`).

The worker logs to the `stream_or_queue.jobs.worker` logger, which has no output
by default (a failed job is in the failed-job registry, not in a random cell's
stderr); configure logging to see it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.connections import get_connection_kwargs
from rq.exceptions import DequeueTimeout, StopRequested
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.worker import BaseWorker, WorkerStatus

from .compat import (
    command_listener_error_handler,
    mark_redis_version,
    marked_redis_version,
    request_stop,
    share_connection,
    stop_requested,
    watch_key,
)
from .connection import DEFAULT_QUEUE, get_redis

__all__ = [
    "QuickCommandListener",
    "ThreadSafeSimpleWorker",
    "ThreadWorker",
    "WakeableQueue",
    "WorkerKilled",
]

COMMAND_POLL_S = 0.2
"""How often a worker's command listener wakes up (RQ: 60 s); bounds its shutdown."""

log = logging.getLogger(__name__)

_this_thread = threading.local()  # .worker: the ThreadSafeSimpleWorker running on it


class WorkerKilled(Exception):
    """Raised inside a killed worker's thread on its next Redis command.

    Deliberately not a `redis.ConnectionError`: RQ retries those forever, while a
    dead process does nothing at all.
    """


class _KillablePool(redis.ConnectionPool):
    """A connection pool that refuses to hand out connections once killed."""

    killed = False

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self.killed:
            raise WorkerKilled("this worker was killed")
        return super().get_connection(*args, **kwargs)


def _killable_copy(connection: redis.Redis) -> tuple[redis.Redis, _KillablePool]:
    """A new client to the same server (real or fake) whose pool can be cut off."""
    pool = _KillablePool(
        connection_class=connection.connection_pool.connection_class,
        **get_connection_kwargs(connection),
    )
    client = type(connection)(connection_pool=pool)
    version = marked_redis_version(connection)
    if version is not None:  # keep what RQ was told about a fakeredis server
        mark_redis_version(client, version)
    return client, pool


class WakeableQueue(Queue):
    """RQ's Queue, whose blocking dequeue really blocks on fakeredis.

    fakeredis (2.30-2.40 at least) returns nil from BLMOVE on an empty list at once,
    so `Worker.work()` loops dequeue + heartbeat as fast as it can: ~10,000 times a
    second per idle worker, which starves every other thread of the notebook. Here
    the worker instead waits for a write to its queue's list (the hook fakeredis
    uses for WATCH), or for its worker to be stopped, then tries the same atomic
    LMOVE again. On a real Redis nothing changes.
    """

    @classmethod
    def lmove(cls, connection: redis.Redis, queue_key: str, timeout: int | None) -> Any:
        if timeout is None:
            return super().lmove(connection, queue_key, timeout)
        worker: ThreadSafeSimpleWorker | None = getattr(_this_thread, "worker", None)
        bell = worker.wake if worker is not None else threading.Event()
        with watch_key(connection, queue_key, bell.set) as watched:
            if not watched:  # a real Redis blocks by itself
                return super().lmove(connection, queue_key, timeout)
            deadline = time.monotonic() + timeout
            while True:
                bell.clear()  # before looking, so a push after the look still rings
                found = super().lmove(connection, queue_key, None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (worker is not None and stop_requested(worker)):
                    raise DequeueTimeout(timeout, queue_key)
                bell.wait(remaining)


class QuickCommandListener(BaseWorker):
    """RQ's command channel (stop a job, shut down), polled every 0.2 s instead of 60 s.

    RQ's teardown unsubscribes, then stops the listener thread. Since redis-py 8,
    `PubSubWorkerThread.stop()` joins that thread, and a listener that went back to
    RQ's 60 s wait (`sleep_time=60`) just before it was told to stop holds the worker's
    warm shutdown for up to a minute (seen as `rq worker` processes that "did not stop
    within 30 s"). A short poll ends it within 0.2 s. Every worker class of the course
    mixes this in; `tests/test_jobs_worker.py` checks the listener's poll.
    """

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        listener = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL_S,
            daemon=True,
            exception_handler=command_listener_error_handler(self),
        )
        listener.name = f"rq-commands-{self.name}"
        self.pubsub_thread = listener  # type: ignore[assignment]  # RQ annotates it as None


class ThreadSafeSimpleWorker(QuickCommandListener, SimpleWorker):
    """SimpleWorker that can live on a non-main thread and stop within a second."""

    death_penalty_class = TimerDeathPenalty
    queue_class = WakeableQueue
    thread_scheduler: RQScheduler | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wake = threading.Event()
        """Set to end an idle wait for a job at once (a stop request, a kill)."""

    def work(self, *args: Any, **kwargs: Any) -> bool:
        _this_thread.worker = self
        try:
            return super().work(*args, **kwargs)
        finally:
            _this_thread.worker = None

    def _install_signal_handlers(self) -> None:  # signals belong to the main thread
        pass

    @property
    def dequeue_timeout(self) -> int:  # wake up every second to notice a stop request
        return 1

    def heartbeat(self, timeout: int | None = None, pipeline: object = None) -> None:
        super().heartbeat(timeout, pipeline)  # type: ignore[arg-type]
        idle = pipeline is None and self.get_state() != WorkerStatus.BUSY
        # RQ checks its stop flag only between jobs; an idle worker also beats here.
        if stop_requested(self) and idle:
            raise StopRequested()
        if idle and self.thread_scheduler is not None:
            self._run_scheduler()

    def _run_scheduler(self) -> None:
        """Enqueue due scheduled jobs, if this worker holds the scheduler lock."""
        scheduler = self.thread_scheduler
        assert scheduler is not None
        if not scheduler.acquired_locks:
            scheduler.acquire_locks()
        if scheduler.acquired_locks:
            scheduler.enqueue_scheduled_jobs()

    def teardown(self) -> None:
        if self.thread_scheduler is not None:
            self.thread_scheduler.release_locks()
        super().teardown()


class ThreadWorker:
    """Start and stop an RQ worker on a daemon thread.

    `start()` is idempotent; `stop()` asks the worker to finish its current job and
    waits for the thread to end, so no thread is leaked. `kill()` abandons the
    worker at once, leaving its job "started" as a crashed worker would.
    """

    def __init__(
        self,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        *,
        connection: redis.Redis | None = None,
        name: str | None = None,
        with_scheduler: bool = False,
        logging_level: str = "WARNING",
    ) -> None:
        self.connection = connection or get_redis()
        self.queue_names = list(queues)
        self.name = name
        self.with_scheduler = with_scheduler
        self.logging_level = logging_level
        self.worker: ThreadSafeSimpleWorker | None = None
        self._thread: threading.Thread | None = None
        self._pool: _KillablePool | None = None
        self.killed = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ThreadWorker:
        if self.running:
            return self
        connection, self._pool = _killable_copy(self.connection)
        self.killed = False
        queues = [WakeableQueue(n, connection=connection) for n in self.queue_names]
        name = self.name or f"thread-{secrets.token_hex(4)}"
        self.worker = ThreadSafeSimpleWorker(queues, connection=connection, name=name)
        self.worker.log = log
        if self.with_scheduler:
            scheduler = RQScheduler(queues, connection=connection, logging_level=logging.WARNING)
            share_connection(scheduler, connection)  # the killable client, not a new pool
            scheduler.log = log
            self.worker.thread_scheduler = scheduler
        self._thread = threading.Thread(
            target=self._run,
            args=(self.worker,),
            name=f"rq-worker-{name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def _run(self, worker: ThreadSafeSimpleWorker) -> None:
        try:
            worker.work(logging_level=self.logging_level)
        except WorkerKilled:
            pass  # a dead worker says nothing
        except Exception:
            if not self.killed:
                log.exception("worker %s stopped on an error", worker.name)

    def request_stop(self) -> None:
        """Ask for a warm shutdown without waiting (see `stop`)."""
        if self.worker is not None:
            request_stop(self.worker)
            self.worker.wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current job, then stop (a warm shutdown)."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"worker did not stop within {timeout} s")
        self._thread = None
        self._close_pool()

    def _close_pool(self) -> None:
        """Close the worker's own sockets (an unclosed socket is a ResourceWarning)."""
        if self._pool is not None:
            self._pool.disconnect()

    def kill(self, timeout: float = 30.0) -> None:
        """Crash the worker: no further Redis command, its current job left "started".

        Python cannot kill a thread, so the job's code runs on until its next Redis
        call (a progress report, the end of the job), which fails; the thread is then
        joined (up to `timeout` s), so nothing is leaked. In Redis the result is the
        same as a dead process: a job in the started registry whose worker stopped
        sending heartbeats, for RQ's registry cleanup to retry or fail.
        """
        if self._pool is None or self.worker is None:
            return
        self.killed = True
        self._pool.killed = True
        self.worker.wake.set()  # an idle worker finds out at once
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"killed worker's thread did not end within {timeout} s")
        self._thread = None
        # A dead process's sockets close with it: close the listener RQ started.
        if self.worker.pubsub_thread is not None:
            try:
                self.worker.unsubscribe()
            except Exception:  # best effort on a dead worker
                self.worker.pubsub_thread.stop()
        self._close_pool()

    def __enter__(self) -> ThreadWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.killed:
            return
        self.stop()

    def __repr__(self) -> str:
        state = "killed" if self.killed else "running" if self.running else "stopped"
        return f"ThreadWorker({self.queue_names}, {state})"
