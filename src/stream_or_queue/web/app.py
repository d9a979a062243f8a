"""The web service: a chat stream for short answers, start-then-poll for long ones.

Routes (JSON unless stated):

- `GET /chat?question=...` (or `POST /chat` with JSON): SSE of the answer's
  tokens - the right tool when the user watches a short answer appear.
- `POST /jobs` `{"question": ...}` -> `202 Accepted`, `Location: /jobs/{id}`, `{"id", ...}`.
- `GET /jobs/{id}`: status (queued, started, finished, failed, canceled), progress, result.
- `GET /jobs/{id}/events`: SSE of progress events with ids; `Last-Event-ID` resumes.
- `DELETE /jobs/{id}`: cancel.
- `POST /research/sync` and `GET /research/stream`: the same agent held inside one
  request - the design notebook 04 shows failing at the edge. Kept to measure it.
- HTML: `/` (ask), `POST /ask` -> `303` to `/r/{id}`, the permalink that shows
  progress while the job runs and the answer with its sources when it is done.

Jobs live in RQ (Redis), not in this process: restart it and every job, its
events and its result are still there. No route lists jobs; ids are 128-bit
random. `create_app()` wraps the FastAPI app in a traffic meter and a
simulated edge (`EdgeTimeout`), as a deployment sits behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import fakeredis
import redis
import redis.asyncio
from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError, field_validator
from rq.job import Job
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from .. import config
from ..jobs import fake_server, get_queue, get_redis
from ..llm import async_client
from . import events, jobs
from .edge import EdgeTimeout
from .metrics import TrafficMeter

__all__ = ["QuestionIn", "WebService", "create_app"]

HERE = Path(__file__).resolve().parent
_ENDED = frozenset({"finished", "failed", "stopped", "canceled"})
CHAT_MAX_TOKENS = 400
CHAT_SYSTEM = "Answer briefly and directly, in a few sentences."

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
        b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # a permalink id must not leak in Referer
]


class QuestionIn(BaseModel):
    """The body of `POST /jobs` and `POST /chat`."""

    question: str

    @field_validator("question")
    @classmethod
    def _check(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("the question is empty: write what you want to know")
        if len(text) > config.WEB_QUESTION_MAX_CHARS:
            raise ValueError(
                f"the question is {len(text)} characters long; "
                f"the limit is {config.WEB_QUESTION_MAX_CHARS}"
            )
        return text


def _question(raw: str) -> str:
    """Validate a question that did not come as a JSON body (query string, form)."""
    try:
        return QuestionIn(question=raw).question
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


class _Guard:
    """Security headers on every response, and 413 for bodies over the limit."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if length.isdigit() and int(length) > config.WEB_MAX_BODY_BYTES:
            response = JSONResponse(
                {"detail": f"request body over {config.WEB_MAX_BODY_BYTES} bytes"}, 413
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class WebService:
    """The deployable ASGI app: traffic meter -> simulated edge -> FastAPI.

    `api` is the FastAPI app, `edge` the edge (change `edge.timeout_s` at will),
    `traffic` the meter; `redis` and `queue` the job store it uses.
    """

    def __init__(
        self,
        api: FastAPI,
        edge: EdgeTimeout,
        traffic: TrafficMeter,
        connection: redis.Redis,
        redis_url: str | None,
        queue_name: str,
    ) -> None:
        self.api = api
        self.edge = edge
        self.traffic = traffic
        self.redis = connection
        self.redis_url = redis_url
        self.queue_name = queue_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.traffic(scope, receive, send)


ASYNC_REDIS_CONNECTIONS = 64
"""Event streams share this many Redis connections; a stream waits for a free one."""


def _async_redis(url: str | None) -> redis.asyncio.Redis:
    if url:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url, max_connections=ASYNC_REDIS_CONNECTIONS, timeout=30
        )
        return redis.asyncio.Redis(connection_pool=pool)
    return fakeredis.FakeAsyncRedis(server=fake_server())


def create_app(
    *,
    edge_timeout_s: float | None = config.DEFAULT_EDGE_TIMEOUT_S,
    redis_url: str | None = None,
    queue_name: str = config.WEB_QUEUE,
) -> WebService:
    """Build the service; `edge_timeout_s=None` runs it with no edge in front."""
    url = redis_url or config.redis_url()
    connection = get_redis(url)
    queue = get_queue(queue_name, connection=connection)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        aconn = _async_redis(url)
        hub = events.EventHub(aconn)
        await hub.start()
        state.update(aredis=aconn, hub=hub)
        try:
            yield
        finally:
            await hub.stop()
            with contextlib.suppress(Exception):
                await aconn.aclose(close_connection_pool=True)

    api = FastAPI(
        title="Stream or Queue: research service", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    api.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with a readable message, and never the (maybe huge) input echoed back."""
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

    def view_or_404(job_id: str) -> dict[str, Any]:
        view = jobs.job_view(connection, job_id)
        if view is None:
            raise HTTPException(404, "no such job")
        return view

    # --- the JSON API ------------------------------------------------------------------

    @api.post("/jobs", status_code=202)
    def start_job(body: QuestionIn, response: Response) -> dict[str, Any]:
        job = jobs.submit(body.question, queue=queue)
        response.headers["Location"] = f"/jobs/{job.id}"
        response.headers["Cache-Control"] = "no-store"
        view = jobs.job_view(connection, job.id)
        return view or {"id": job.id, "status": "queued"}

    @api.get("/jobs/{job_id}")
    async def get_job(job_id: str) -> JSONResponse:
        # The hot path of every polling client: one async round trip to Redis, and the
        # view returned as it is (it is JSON data already; no re-validation).
        view = await jobs.ajob_view(state["aredis"], connection, job_id)
        if view is None:
            raise HTTPException(404, "no such job")
        return JSONResponse(view, headers={"Cache-Control": "no-store"})

    @api.delete("/jobs/{job_id}")
    def delete_job(job_id: str) -> dict[str, Any]:
        status = jobs.cancel(connection, job_id)
        if status is None:
            raise HTTPException(404, "no such job")
        if status != "canceled":
            raise HTTPException(409, f"the job has already {status}")
        return view_or_404(job_id)

    @api.get("/jobs/{job_id}/events")
    async def job_events(
        job_id: str,
        last_event_id: Annotated[str | None, Header()] = None,
        after: Annotated[str | None, Query()] = None,
    ) -> EventSourceResponse:
        await run_in_threadpool(view_or_404, job_id)
        cursor = last_event_id if events.valid_event_id(last_event_id) else after
        return EventSourceResponse(
            _event_stream(job_id, cursor if events.valid_event_id(cursor) else None),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _event_stream(job_id: str, cursor: str | None) -> AsyncIterator[ServerSentEvent]:
        aconn: redis.asyncio.Redis = state["aredis"]
        hub: events.EventHub = state["hub"]
        retry: int | None = config.WEB_SSE_RETRY_MS
        check_every = config.WEB_SSE_STATUS_CHECK_S
        with hub.watch(job_id) as woken:
            while True:
                woken.clear()
                for event in await events.aread_events(aconn, job_id, after=cursor):
                    cursor = event.id
                    yield ServerSentEvent(
                        data=json.dumps(event.data),
                        event="done" if event.terminal else "progress",
                        id=event.id,
                        retry=retry,
                    )
                    retry = None
                    if event.terminal:
                        return
                try:
                    await asyncio.wait_for(woken.wait(), check_every)
                    check_every = config.WEB_SSE_STATUS_CHECK_S
                except TimeoutError:
                    # Quiet for a while: did the job end without a word (a crashed worker)?
                    # Check less and less often, so idle streams cost next to nothing.
                    check_every = min(2 * check_every, 8 * config.WEB_SSE_STATUS_CHECK_S)
                    status = await aconn.hget(Job.key_for(job_id), "status")
                    if status is None or events._text(status) in _ENDED:
                        await run_in_threadpool(_end_if_job_ended, job_id)

    def _end_if_job_ended(job_id: str) -> None:
        """A worker that crashed writes no terminal event: write it from RQ's status."""
        job = jobs.fetch(connection, job_id)
        if job is None:
            events.publish_terminal(connection, job_id, "failed", "The job has expired.")
            return
        status = job.get_status(refresh=True)
        if status in ("failed", "stopped", "canceled"):
            step = "failed" if status == "failed" else "canceled"
            events.publish_terminal(
                connection, job_id, step, "The research failed." if step == "failed" else "Canceled"
            )
        elif status == "finished":
            events.publish_terminal(
                connection,
                job_id,
                "finished",
                "The answer is ready",
                result=jobs.as_result(job.return_value()),
            )

    # --- sync streaming chat (short answers) ----------------------------------------------

    async def _chat(question: str) -> AsyncIterator[ServerSentEvent]:
        llm = async_client()
        try:
            async with llm.messages.stream(
                model=config.LARGE_MODEL,
                max_tokens=CHAT_MAX_TOKENS,
                system=CHAT_SYSTEM,
                messages=[{"role": "user", "content": question}],
            ) as stream:
                async for text in stream.text_stream:
                    yield ServerSentEvent(data=json.dumps({"text": text}), event="token")
                message = await stream.get_final_message()
            yield ServerSentEvent(
                event="done",
                data=json.dumps(
                    {
                        "stop_reason": message.stop_reason,
                        "output_tokens": message.usage.output_tokens,
                    }
                ),
            )
        finally:
            await llm.close()

    @api.get("/chat")
    async def chat_get(question: Annotated[str, Query()]) -> EventSourceResponse:
        return EventSourceResponse(_chat(_question(question)))

    @api.post("/chat")
    async def chat_post(body: QuestionIn) -> EventSourceResponse:
        return EventSourceResponse(_chat(body.question))

    # --- the anti-pattern: the whole agent inside one request -------------------------------

    @api.post("/research/sync")
    async def research_sync(body: QuestionIn) -> dict[str, Any]:
        return await run_in_request(body.question)

    @api.get("/research/stream")
    async def research_stream(question: Annotated[str, Query()]) -> EventSourceResponse:
        return EventSourceResponse(_research_stream(_question(question)))

    async def _research_stream(question: str) -> AsyncIterator[ServerSentEvent]:
        queue_: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        task = asyncio.ensure_future(
            run_in_request(
                question,
                on_progress=lambda e: queue_.put_nowait(("progress", e)),
                on_text=lambda t: queue_.put_nowait(("token", {"text": t})),
            )
        )
        task.add_done_callback(lambda _t: queue_.put_nowait(("end", None)))
        try:
            while True:
                kind, data = await queue_.get()
                if kind == "end":
                    break
                yield ServerSentEvent(data=json.dumps(data), event=kind)
            try:
                result = task.result()
            except Exception:
                yield ServerSentEvent(
                    event="error", data=json.dumps({"message": "The research failed."})
                )
                return
            yield ServerSentEvent(event="done", data=json.dumps(result))
        finally:
            task.cancel()

    # --- pages -----------------------------------------------------------------------------

    @api.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "index.html",
            {"question": "", "error": None, "limit": config.WEB_QUESTION_MAX_CHARS},
        )

    @api.post("/ask", response_class=HTMLResponse, response_model=None)
    async def ask(request: Request) -> HTMLResponse | RedirectResponse:
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        raw = (form.get("question") or [""])[0]
        try:
            question = QuestionIn(question=raw).question
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            return templates.TemplateResponse(
                request,
                "index.html",
                {
                    "question": raw[: config.WEB_QUESTION_MAX_CHARS * 2],
                    "error": message,
                    "limit": config.WEB_QUESTION_MAX_CHARS,
                },
                status_code=422,
            )
        # the form is what a person uses: their job runs on the human clock (real time)
        job = await run_in_threadpool(
            jobs.submit, question, queue=queue, time_scale=config.human_time_scale()
        )
        return RedirectResponse(f"/r/{job.id}", status_code=303)

    @api.get("/r/{job_id}", response_class=HTMLResponse)
    def permalink(
        request: Request, job_id: str, transport: Annotated[str | None, Query()] = None
    ) -> HTMLResponse:
        view = jobs.job_view(connection, job_id)
        if view is None:
            return templates.TemplateResponse(request, "missing.html", {}, status_code=404)
        result = view.get("result") or {}
        paragraphs = [p.strip() for p in str(result.get("answer", "")).split("\n\n") if p.strip()]
        response = templates.TemplateResponse(
            request,
            "job.html",
            {
                "view": view,
                "paragraphs": paragraphs,
                "sources": list(result.get("sources") or []),
                "transport": "poll" if transport == "poll" else "sse",
            },
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    edge = EdgeTimeout(_Guard(api), edge_timeout_s)
    traffic = TrafficMeter(edge)
    return WebService(api, edge, traffic, connection, url, queue_name)


async def run_in_request(
    question: str,
    *,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the research agent while the request waits: the design that fails at the edge.

    The agent runs on its own thread; the request awaits it. When the request is
    cancelled (the edge cut it, the user closed the tab), the agent is stopped at
    its next progress report or token, so it stops spending - but what it already
    spent is spent, and the answer is lost.
    """
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    done: asyncio.Future[dict[str, Any]] = loop.create_future()

    def soon(fn: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be gone by now
            loop.call_soon_threadsafe(fn, *args)

    def progress(event: Mapping[str, Any]) -> None:
        if stop.is_set():
            raise jobs.JobCanceled("the request ended")
        if on_progress is not None:
            soon(on_progress, dict(event))

    def text(piece: str) -> None:
        if stop.is_set():
            raise jobs.JobCanceled("the request ended")
        if on_text is not None:
            soon(on_text, piece)

    def settle(outcome: dict[str, Any] | BaseException) -> None:
        if done.done():
            return
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)

    def work() -> None:
        try:
            outcome: dict[str, Any] | BaseException = jobs.as_result(
                jobs.run_research(
                    question, progress=progress, on_text=text if on_text is not None else None
                )
            )
        except BaseException as exc:  # handed to the awaiting request
            outcome = exc
        soon(settle, outcome)

    threading.Thread(target=work, name="soq-research-in-request", daemon=True).start()
    try:
        return await done
    finally:
        stop.set()
