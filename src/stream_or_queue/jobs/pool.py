"""`start_workers(n)`: the right workers for wherever the queue lives.

On the in-process fakeredis (the default) only threads of this process can see
the queue, so `start_workers` starts `ThreadWorker`s. On a real Redis (REDIS_URL)
it starts real `rq worker` processes - RQ's forking worker, as in production. The
notebook code is the same either way:

    workers = start_workers(2)
    ...
    workers.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Literal

import redis

from .. import config
from .connection import DEFAULT_QUEUE, get_redis, is_fake
from .process import ProcessWorker, url_of
from .worker import ThreadWorker

__all__ = ["Workers", "start_workers", "stop_all_workers"]

Kind = Literal["thread", "process"]
MAX_WORKERS = 32

_active: list[Workers] = []
_lock = threading.Lock()


class Workers:
    """A group of workers started together; `stop()` (warm) or `kill()` (crash) them all."""

    def __init__(
        self, kind: Kind, workers: Sequence[ThreadWorker | ProcessWorker], queues: Sequence[str]
    ) -> None:
        self.kind = kind
        self.workers = list(workers)
        self.queue_names = list(queues)

    def __len__(self) -> int:
        return len(self.workers)

    def __iter__(self) -> Iterator[ThreadWorker | ProcessWorker]:
        return iter(self.workers)

    @property
    def running(self) -> int:
        """How many of the workers are alive."""
        return sum(1 for w in self.workers if w.running)

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown of every worker (each finishes its current job)."""
        for worker in self.workers:
            worker.request_stop()  # ask all at once, then wait for each
        errors = []
        for worker in self.workers:
            try:
                worker.stop(timeout)
            except TimeoutError as exc:
                errors.append(exc)
        _forget(self)
        if errors:
            raise errors[0]

    def kill(self) -> None:
        """Crash every worker: their current jobs are left "started"."""
        for worker in self.workers:
            worker.kill()
        _forget(self)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if any(not w.killed for w in self.workers):
            self.stop()

    def __repr__(self) -> str:
        what = "thread workers" if self.kind == "thread" else "rq worker processes"
        return f"<{len(self)} {what} on {self.queue_names}, {self.running} running>"


def _forget(group: Workers) -> None:
    with _lock:
        if group in _active:
            _active.remove(group)


def start_workers(
    n: int = 1,
    queues: Sequence[str] = (DEFAULT_QUEUE,),
    *,
    connection: redis.Redis | None = None,
    kind: Kind | None = None,
    with_scheduler: bool = False,
) -> Workers:
    """Start `n` workers on `queues`: threads on fakeredis, `rq worker` processes on a real Redis.

    `kind="thread"` forces in-process workers on a real Redis too (tests, benchmarks).
    The first worker also runs the scheduler when `with_scheduler` is set (scheduled
    jobs and retries with an interval need one).
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_WORKERS:
        raise ValueError(f"n must be an integer from 1 to {MAX_WORKERS}, got {n!r}")
    if isinstance(queues, str):
        queues = [queues]
    if not queues or not all(isinstance(q, str) and q for q in queues):
        raise ValueError(f"queues must be a list of queue names, got {queues!r}")
    conn = connection if connection is not None else get_redis()
    fake = is_fake(conn)
    kind = kind or ("thread" if fake else "process")
    if kind == "process" and fake:
        raise ValueError(
            "rq worker processes cannot reach the in-process fakeredis: set REDIS_URL to a "
            "real Redis, or use kind='thread'"
        )
    workers: list[ThreadWorker | ProcessWorker] = []
    try:
        for i in range(n):
            scheduler = with_scheduler and i == 0
            worker: ThreadWorker | ProcessWorker
            if kind == "thread":
                worker = ThreadWorker(queues, connection=conn, with_scheduler=scheduler)
            else:
                url = config.redis_url() if connection is None else None
                worker = ProcessWorker(queues, url=url or url_of(conn), with_scheduler=scheduler)
            if isinstance(worker, ProcessWorker):
                workers.append(worker.start(wait=False))  # start all, then wait: in parallel
            else:
                workers.append(worker.start())
        for worker in workers:
            if isinstance(worker, ProcessWorker):
                worker.wait_ready()
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    group = Workers(kind, workers, queues)
    with _lock:
        _active.append(group)
    return group


def stop_all_workers(timeout: float = 30.0) -> None:
    """Stop every group `start_workers` started and nobody stopped yet."""
    with _lock:
        groups = list(_active)
    for group in groups:
        group.stop(timeout)


@atexit.register
def _stop_at_exit() -> None:  # leave no `rq worker` process behind a closed kernel
    with _lock:
        groups = list(_active)
    for group in groups:
        for worker in group.workers:
            if isinstance(worker, ProcessWorker) and worker.running:
                with contextlib.suppress(TimeoutError):  # stop() killed it then
                    worker.stop(timeout=10)
