"""Background jobs on RQ: the connection, an in-notebook worker, job functions.

The default Redis is an in-process fakeredis server; set REDIS_URL to use a real
Redis and real `rq worker` processes.
"""

from __future__ import annotations

from .connection import DEFAULT_QUEUE, fake_server, get_queue, get_redis, is_fake, reset_fake_redis
from .worker import ThreadSafeSimpleWorker, ThreadWorker

__all__ = [
    "DEFAULT_QUEUE",
    "ThreadSafeSimpleWorker",
    "ThreadWorker",
    "fake_server",
    "get_queue",
    "get_redis",
    "is_fake",
    "reset_fake_redis",
]
