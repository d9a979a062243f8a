"""What every route of the web service reads: the job store, the job function, the hub.

`create_app()` builds one `WebState` and keeps it on the FastAPI app
(`app.state.web`); routes ask for it with `Depends(get_state)` instead of
closing over variables, so each router is a small module of its own. The
async connection and the event hub exist only while the app runs (lifespan).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import fakeredis
import redis
import redis.asyncio
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue

from ..jobs import fake_server, get_redis
from . import events
from .links import forwarded_prefix

__all__ = [
    "QUEUE_ERRORS",
    "State",
    "WebState",
    "async_redis",
    "get_state",
    "log",
    "request_id",
    "sync_redis",
]

WEB_REDIS_CONNECTIONS = 64
"""Redis connections one web process opens for its event streams and status reads.

Streams beyond this wait for a free connection (and all of them share one
subscription for wake-ups): a thousand open streams never mean a thousand connections.
"""

WEB_REDIS_WAIT_S = 30.0
"""How long a request waits for one of those connections before it answers 503."""

HERE = Path(__file__).resolve().parent
log = logging.getLogger("stream_or_queue.web")

QUEUE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
"""What "the queue cannot be reached" looks like (MaxConnectionsError is a ConnectionError)."""


def _fail_fast_retry() -> Retry:
    # A request does not wait for Redis: two quick retries (0.3 s in all, less than the
    # simulated edge's 0.6 real seconds at the default time scale), then 503 with
    # Retry-After, which tells the client when to come back.
    return Retry(ExponentialBackoff(cap=0.2, base=0.05), 2)


def _fail_fast_async_retry() -> AsyncRetry:
    return AsyncRetry(ExponentialBackoff(cap=0.2, base=0.05), 2)


def sync_redis(url: str | None) -> redis.Redis:
    """The service's blocking connection: the course's shared one on fakeredis."""
    if not url:
        return get_redis(None)
    return redis.Redis.from_url(url, socket_connect_timeout=2, retry=_fail_fast_retry())


def async_redis(url: str | None) -> redis.asyncio.Redis:
    """The async connection of event streams and status reads: a bounded, waiting pool.

    On both backends a request beyond `WEB_REDIS_CONNECTIONS` waits (up to
    `WEB_REDIS_WAIT_S`) for a free connection instead of failing - the embedded
    fakeredis used to get redis-py's default pool, which raised "Too many
    connections" under a few hundred streams.
    """
    if url:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=WEB_REDIS_CONNECTIONS,
            timeout=WEB_REDIS_WAIT_S,
            socket_connect_timeout=2,
            retry=_fail_fast_async_retry(),
        )
        return redis.asyncio.Redis(connection_pool=pool)
    client = fakeredis.FakeAsyncRedis(
        server=fake_server(),
        connection_pool_class=redis.asyncio.BlockingConnectionPool,
        max_connections=WEB_REDIS_CONNECTIONS,
    )
    fake_pool = client.connection_pool
    if isinstance(fake_pool, redis.asyncio.BlockingConnectionPool):
        fake_pool.timeout = WEB_REDIS_WAIT_S
    return client


def _page_links(request: Request) -> dict[str, str]:
    """Every page's `root`: the prefix its links need behind a proxy (`links.forwarded_prefix`)."""
    return {"root": forwarded_prefix(request.headers)}


@dataclass
class WebState:
    """The service's shared parts; `aredis` and `hub` are set while it runs."""

    connection: redis.Redis
    queue: Queue
    job: Callable[..., Any]
    redis_url: str | None
    ready_worker_window_s: float
    templates: Jinja2Templates = field(
        default_factory=lambda: Jinja2Templates(
            directory=str(HERE / "templates"), context_processors=[_page_links]
        )
    )
    aredis: redis.asyncio.Redis | None = None
    hub: events.EventHub | None = None

    @property
    def async_connection(self) -> redis.asyncio.Redis:
        if self.aredis is None:
            raise RuntimeError("the web app is not running (its lifespan has not started)")
        return self.aredis

    @property
    def event_hub(self) -> events.EventHub:
        if self.hub is None:
            raise RuntimeError("the web app is not running (its lifespan has not started)")
        return self.hub


def get_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


State = Annotated[WebState, Depends(get_state)]


def request_id(request: Request) -> str:
    """The id `create_app`'s guard gave this request (also sent as `X-Request-ID`)."""
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else secrets.token_hex(8)
