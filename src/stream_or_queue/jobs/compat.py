"""Every internal of RQ and fakeredis the course relies on, in one place.

RQ is built for worker processes with signals, and fakeredis for tests; running
a worker on a notebook's thread, on fakeredis, takes a few members neither
package promises to keep. Each is used through a function here, and nowhere
else, with the reason beside it. `tests/test_jobs_compat.py` checks every one
against the installed versions, so an upgrade that moves one fails there, by
name, instead of as a worker that hangs or spins in a lesson. pyproject.toml
bounds RQ and fakeredis to the versions checked.

What is relied on:

- RQ caches the server version on the connection object under
  `RQ_VERSION_ATTR` (`rq.utils.get_version`); fakeredis has no INFO command, so
  the course sets it (see `connection.FAKE_REDIS_VERSION`).
- RQ's worker loop stops at its next turn when `_stop_requested` is set; its
  public `request_stop` is a signal handler (it installs signal handlers, which
  only the main thread may do), so a thread worker sets the flag itself.
- `RQScheduler` keeps its connection in `_connection` and builds a new pool
  when it is unset; the thread worker's scheduler must share the worker's
  killable client instead.
- `BaseWorker._pubsub_exception_handler` is what RQ's own command listener
  passes to `run_in_thread`; the quicker listener passes the same.
- fakeredis keeps a client's server in its pool's `connection_kwargs["server"]`,
  its databases in `server.dbs`, and calls `notify_watch()` on every object
  registered with `database.add_watch(key, obj)` when `key` is written (what
  WATCH uses); an idle worker on fakeredis waits on that instead of spinning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import fakeredis
import redis
from rq.scheduler import RQScheduler
from rq.worker import BaseWorker

__all__ = [
    "RQ_VERSION_ATTR",
    "command_listener_error_handler",
    "mark_redis_version",
    "marked_redis_version",
    "request_stop",
    "share_connection",
    "stop_requested",
    "watch_key",
]

RQ_VERSION_ATTR = "__rq_redis_server_version"
"""Where `rq.utils.get_version` caches a connection's server version."""


def mark_redis_version(connection: redis.Redis, version: tuple[int, int, int]) -> None:
    """Tell RQ which Redis version `connection` talks to, so it does not ask (INFO)."""
    setattr(connection, RQ_VERSION_ATTR, version)


def marked_redis_version(connection: redis.Redis) -> tuple[int, int, int] | None:
    """The version RQ was told (or found) for `connection`, if any."""
    version: tuple[int, int, int] | None = getattr(connection, RQ_VERSION_ATTR, None)
    return version


def request_stop(worker: BaseWorker) -> None:
    """A warm shutdown, as RQ's SIGTERM handler asks for it, without touching signals."""
    worker._stop_requested = True


def stop_requested(worker: BaseWorker) -> bool:
    """Whether a warm shutdown was asked for (RQ checks it between jobs)."""
    return bool(worker._stop_requested)


def share_connection(scheduler: RQScheduler, connection: redis.Redis) -> None:
    """Make `scheduler` use `connection` rather than open a pool of its own."""
    scheduler._connection = connection  # type: ignore[assignment]  # RQ annotates it as None


def command_listener_error_handler(worker: BaseWorker) -> Callable[..., None]:
    """What RQ passes as `exception_handler` to its command listener's thread."""
    handler: Callable[..., None] = worker._pubsub_exception_handler
    return handler


@contextmanager
def watch_key(connection: redis.Redis, key: str, on_write: Callable[[], None]) -> Iterator[bool]:
    """Call `on_write()` whenever `key` is written, while inside; yields False on a real Redis.

    Only fakeredis can do this (it is how it implements WATCH); on a real Redis
    nothing is registered, and blocking commands block by themselves.
    """
    if not isinstance(connection, fakeredis.FakeRedis):
        yield False
        return
    kwargs = connection.connection_pool.connection_kwargs
    server = kwargs.get("server")
    if server is None:
        yield False
        return
    database = server.dbs[int(kwargs.get("db", 0))]
    watcher = _Watcher(on_write)
    name = key.encode()
    with server.lock:  # fakeredis reads its watch lists under this lock
        database.add_watch(name, watcher)
    try:
        yield True
    finally:
        with server.lock:
            database.remove_watch(name, watcher)


class _Watcher:
    """What fakeredis notifies of a watched key's change."""

    def __init__(self, on_write: Callable[[], None]) -> None:
        self.on_write = on_write

    def notify_watch(self) -> None:  # the name fakeredis calls
        self.on_write()
