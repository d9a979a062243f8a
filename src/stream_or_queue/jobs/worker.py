"""An RQ worker inside the notebook's process, on a background thread.

RQ's `SimpleWorker` runs jobs in its own process instead of forking, which is what
a notebook needs: no fork of a Jupyter kernel, and it works on fakeredis. Two
adjustments make it thread-safe (verified on RQ 3.0): signal handlers can only be
installed from the main thread, and the default death penalty uses SIGALRM, so
timeouts use a timer thread instead.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.timeouts import TimerDeathPenalty
from rq.worker import WorkerStatus

from .connection import DEFAULT_QUEUE, get_redis


class ThreadSafeSimpleWorker(SimpleWorker):
    """SimpleWorker that can live on a non-main thread and stop within a second."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:  # signals belong to the main thread
        pass

    @property
    def dequeue_timeout(self) -> int:  # wake up every second to notice a stop request
        return 1

    def heartbeat(self, timeout: int | None = None, pipeline: object = None) -> None:
        super().heartbeat(timeout, pipeline)  # type: ignore[arg-type]
        # RQ checks its stop flag only between jobs; an idle worker also beats here.
        if self._stop_requested and pipeline is None and self.get_state() != WorkerStatus.BUSY:
            raise StopRequested()


class ThreadWorker:
    """Start and stop an RQ worker on a daemon thread.

    `start()` is idempotent; `stop()` asks the worker to finish its current job and
    waits for the thread to end, so no thread is leaked. `kill()` abandons the
    thread at once, leaving its job "started" as a crashed worker would.
    """

    def __init__(
        self,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        *,
        connection: redis.Redis | None = None,
        name: str | None = None,
    ) -> None:
        self.connection = connection or get_redis()
        self.queue_names = list(queues)
        self.name = name
        self.worker: ThreadSafeSimpleWorker | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ThreadWorker:
        if self.running:
            return self
        queues = [Queue(n, connection=self.connection) for n in self.queue_names]
        self.worker = ThreadSafeSimpleWorker(queues, connection=self.connection, name=self.name)
        self._thread = threading.Thread(
            target=self.worker.work,
            kwargs={"logging_level": "WARNING"},
            name=f"rq-worker-{self.worker.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current job, then stop (a warm shutdown)."""
        if self.worker is not None:
            self.worker._stop_requested = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"worker did not stop within {timeout} s")
        self._thread = None

    def __enter__(self) -> ThreadWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
