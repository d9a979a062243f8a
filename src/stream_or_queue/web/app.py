"""The web service: a chat stream for short answers, start-then-poll for long ones.

`create_app()` assembles small routers, each a module that reads the service's
state through `Depends(get_state)`:

- `api`: `POST /jobs`, `GET /jobs/{id}`, `GET /jobs/{id}/events` (SSE), `DELETE /jobs/{id}`;
- `chat`: `/chat` (SSE tokens) and the agent held in one request (`/research/...`);
- `pages`: `/`, `POST /ask`, the permalink `/r/{id}`;
- `health`: `/healthz` (alive) and `/readyz` (queue answers, a worker was seen).

Jobs live in RQ (Redis), not in this process: restart it and every job, its
events and its result are still there. No route lists jobs; ids are 128-bit
random. The job function is a parameter (`job=`), so the web package does not
decide which agent runs. The FastAPI app is wrapped in a
simulated edge (`Edge`: a duration limit, an idle timeout or both), as a
deployment sits behind a load balancer or a function platform.

When Redis cannot be reached, every route that needs it answers `503` with a
JSON `detail` and `Retry-After`, and the log gets one line with the request's
id (also sent to the client as `X-Request-ID`) - never a traceback.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from rq import Queue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import config
from ..edge import Edge
from ..jobs import get_queue
from . import api, chat, events, health, jobs, pages
from .chat import run_in_request
from .schemas import QuestionIn
from .state import QUEUE_ERRORS, WebState, async_redis, log, request_id, sync_redis

__all__ = ["QuestionIn", "WebService", "create_app", "run_in_request"]

WEB_RETRY_AFTER_S = 5
"""The `Retry-After` (s) of a 503 answered while the queue cannot be reached."""

HERE = Path(__file__).resolve().parent

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
        b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # a permalink id must not leak in Referer
]


class _Guard:
    """A request id and security headers on every response; 413 for bodies over the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        length = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if length.isdigit() and int(length) > config.WEB_MAX_BODY_BYTES:
            response = JSONResponse(
                {"detail": f"request body over {config.WEB_MAX_BODY_BYTES} bytes"}, 413
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *SECURITY_HEADERS,
                    (b"x-request-id", rid.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class WebService:
    """The deployable ASGI app: simulated edge -> guard -> FastAPI.

    `api` is the FastAPI app, `edge` the edge (change `edge.duration_s` or
    `edge.idle_s` at will); `redis` and `queue_name` the job store it uses.
    """

    def __init__(self, api: FastAPI, edge: Edge, state: WebState) -> None:
        self.api = api
        self.edge = edge
        self.state = state
        self.redis = state.connection
        self.redis_url = state.redis_url
        self.queue_name = state.queue.name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.edge(scope, receive, send)


def _lifespan(state: WebState) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        aconn = async_redis(state.redis_url)
        hub = events.EventHub(aconn)
        await hub.start()
        state.aredis, state.hub = aconn, hub
        try:
            yield
        finally:
            await hub.stop()
            with contextlib.suppress(Exception):
                await aconn.aclose(close_connection_pool=True)
            state.aredis = state.hub = None

    return lifespan


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """422 with a readable message, and never the (maybe huge) input echoed back."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "loc": list(e.get("loc", ())),
            "type": e.get("type", ""),
            "msg": str(e.get("msg", "")).removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]
    message = "; ".join(
        f"{'.'.join(str(p) for p in d['loc'][1:]) or 'body'}: {d['msg']}" for d in detail
    )
    return JSONResponse({"detail": detail, "message": message}, status_code=422)


async def _queue_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """503 + Retry-After for any route that needed Redis and could not reach it."""
    rid = request_id(request)
    log.error(
        "503 %s %s: the job queue cannot be reached (request_id=%s: %s: %s)",
        request.method,
        request.url.path,
        rid,
        type(exc).__name__,
        exc,
    )
    return JSONResponse(
        {
            "detail": "The job queue cannot be reached right now; nothing was lost. "
            "Try again in a few seconds.",
            "request_id": rid,
        },
        status_code=503,
        headers={"Retry-After": str(WEB_RETRY_AFTER_S), "Cache-Control": "no-store"},
    )


def create_app(
    *,
    job: Callable[..., Any] | None = None,
    edge_timeout_s: float | None = config.DEFAULT_EDGE_TIMEOUT_S,
    edge_idle_s: float | None = None,
    redis_url: str | None = None,
    queue_name: str = config.WEB_QUEUE,
    ready_worker_window_s: float = config.WEB_READY_WORKER_WINDOW_S,
) -> WebService:
    """Build the service behind a simulated edge (`stream_or_queue.edge.Edge`).

    `edge_timeout_s` limits a request's total duration (a function platform),
    `edge_idle_s` its silences (a load balancer); None turns a rule off, both
    None runs the service with no edge in front.

    `job` is the RQ job function a question is enqueued as (default: the research
    assistant, `web.jobs.research_job`); it must be importable by the workers.
    Building the app never talks to Redis: a service whose queue is down starts,
    says so on `/readyz` and answers 503 until the queue is back.
    """
    url = redis_url or config.redis_url()
    connection = sync_redis(url)
    queue: Queue = get_queue(queue_name, connection=connection)
    state = WebState(
        connection=connection,
        queue=queue,
        job=job or jobs.research_job,
        redis_url=url,
        ready_worker_window_s=ready_worker_window_s,
    )
    app = FastAPI(
        title="Stream or Queue: research service",
        lifespan=_lifespan(state),
        docs_url=None,
        redoc_url=None,
    )
    app.state.web = state
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for error in QUEUE_ERRORS:
        app.add_exception_handler(error, _queue_unreachable)
    for router in (api.router, chat.router, pages.router, health.router):
        app.include_router(router)
    edge = Edge(_Guard(app), duration_s=edge_timeout_s, idle_s=edge_idle_s)
    return WebService(app, edge, state)
