"""Where the queue lives: in-process fakeredis by default, a real Redis by REDIS_URL.

Every part of the course (notebooks, web service, workers) gets its connection
here, so that one environment variable moves all of it from a laptop with no
Redis to a real server shared by many machines.
"""

from __future__ import annotations

import threading

import fakeredis
import redis
from rq import Queue

from .. import config
from .compat import mark_redis_version

__all__ = [
    "DEFAULT_QUEUE",
    "FAKE_REDIS_VERSION",
    "fake_client",
    "fake_server",
    "get_queue",
    "get_redis",
    "is_fake",
    "mark_redis_version",
    "reset_fake_redis",
]

DEFAULT_QUEUE = "default"

_lock = threading.Lock()
_fake_server: fakeredis.FakeServer | None = None
_connections: dict[str, redis.Redis] = {}


def fake_server() -> fakeredis.FakeServer:
    """The one in-process Redis server shared by every fakeredis connection."""
    global _fake_server
    with _lock:
        if _fake_server is None:
            _fake_server = fakeredis.FakeServer()
        return _fake_server


FAKE_REDIS_VERSION = (7, 2, 0)
"""The Redis version RQ is told the fakeredis server has (fakeredis has no INFO command).

RQ picks its dequeue command by server version: on Redis >= 6.2 it moves a job
atomically from the queue to an "intermediate" list (BLMOVE), so a worker that
dies between taking a job and starting it leaves the job where `recover()` and
RQ's maintenance find it. Without a version RQ assumes 5.0 and pops the job
(BLPOP), which a crash at that moment would lose. fakeredis implements BLMOVE.
"""


def fake_client() -> fakeredis.FakeRedis:
    """A new client of the shared in-process server, that RQ treats as Redis 7."""
    client = fakeredis.FakeRedis(server=fake_server())
    mark_redis_version(client, FAKE_REDIS_VERSION)
    return client


def get_redis(url: str | None = None) -> redis.Redis:
    """A Redis connection: `url`, else REDIS_URL, else the shared fakeredis server.

    Connections are cached per URL. RQ stores pickled bytes, so responses are
    never decoded here.
    """
    url = url or config.redis_url()
    key = url or "fakeredis://"
    with _lock:
        conn = _connections.get(key)
    if conn is not None:
        return conn
    conn = redis.Redis.from_url(url) if url else fake_client()
    with _lock:
        return _connections.setdefault(key, conn)


def is_fake(connection: redis.Redis) -> bool:
    return isinstance(connection, fakeredis.FakeRedis)


def get_queue(
    name: str = DEFAULT_QUEUE, *, connection: redis.Redis | None = None, **kwargs: object
) -> Queue:
    """An RQ queue on the course's connection."""
    return Queue(name, connection=connection or get_redis(), **kwargs)  # type: ignore[arg-type]


def reset_fake_redis() -> None:
    """Empty the in-process Redis (tests and notebooks start clean with this)."""
    fake_server()  # make sure it exists
    fake_client().flushall()
