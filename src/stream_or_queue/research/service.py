"""The research assistant behind a simulated edge: where v1, v2 and v3 are measured.

One small FastAPI app, wrapped in the web service's `EdgeTimeout` (the load
balancer that cuts any request after 60 simulated seconds) and served by uvicorn
on loopback, so that all three versions meet the same edge:

- `POST /chat` `{"question"}` - **v1, the chat box**: the whole agent runs inside
  the request and streams server-sent events (`progress`, `token`, then `done`
  with the answer). When the edge cuts the request or the user closes the tab,
  the agent is cancelled at once: what it already spent is spent, the answer is lost.
- `POST /jobs` `{"question", "version"}` -> `202` with the job id - **v2/v3**:
  the request ends in milliseconds; `research_job` runs on an RQ worker.
- `GET /jobs/{id}` -> status, progress and, when finished, the result.

The course's full web service (pages, SSE progress, permalinks) is
`stream_or_queue.web`; this app is the measuring rig, kept small on purpose.
Each chat request may carry an `x-trace-id` header: the service then keeps the
run's `ResearchTrace`, so the measurement can count the work a cut request lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import redis
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sse_starlette import EventSourceResponse, ServerSentEvent

from .. import clock, config, serving
from ..edge import EdgeTimeout
from ..jobs import get_queue, get_redis
from ..llm import async_client
from ..serving import ServerThread
from .agent import arun_research, check_question
from .job import RESEARCH_QUEUE, enqueue_research
from .result import ProgressEvent, ResearchTrace

__all__ = ["ResearchService", "RunningService", "serve_in_thread"]

MAX_TRACES = 10_000


class _Ask(BaseModel):
    question: str
    version: str = "v2"


class ResearchService:
    """The measuring rig: the app, its edge, the traces of chat runs, and a `deploy()`."""

    def __init__(
        self,
        *,
        edge_timeout_s: float | None = config.DEFAULT_EDGE_TIMEOUT_S,
        connection: redis.Redis | None = None,
        queue_name: str = RESEARCH_QUEUE,
        submit: Callable[[Queue, str], Any] | None = None,
        llm: anthropic.AsyncAnthropic | None = None,
    ) -> None:
        self.connection = connection or get_redis()
        self.submit = submit
        """Your own `submit(queue, question) -> job id` (the capstone lab's); default: v2/v3."""
        self.queue = get_queue(queue_name, connection=self.connection)
        self.traces: dict[str, ResearchTrace] = {}
        self.chats_started = 0
        self.longest_s: dict[str, float] = {}
        """The longest request the server held open, per route kind (simulated s)."""
        self.chats_lost_in_deploy = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._llm = llm
        """The chat's model client; by default the course's, made on the first chat."""
        self.api = self._build()
        self.edge = EdgeTimeout(self.api, edge_timeout_s)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.edge(scope, receive, send)
            return
        watch = clock.Stopwatch()
        try:
            await self.edge(scope, receive, send)
        finally:
            kind = "chat" if scope.get("path") == "/chat" else "jobs"
            self.longest_s[kind] = max(self.longest_s.get(kind, 0.0), watch.elapsed)

    # --- routes --------------------------------------------------------------------------

    def _build(self) -> FastAPI:
        api = FastAPI(title="research assistant (measuring rig)", docs_url=None, redoc_url=None)

        @api.exception_handler(ValueError)
        async def bad_input(_request: Request, exc: ValueError) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=422)

        @api.post("/chat")
        async def chat(body: _Ask, request: Request) -> EventSourceResponse:
            question = check_question(body.question)
            trace_id = request.headers.get("x-trace-id", "")
            trace = ResearchTrace()
            if trace_id and len(self.traces) < MAX_TRACES:
                self.traces[trace_id] = trace
            return EventSourceResponse(self._chat(question, trace))

        @api.post("/jobs", status_code=202)
        def submit(body: _Ask, response: Response) -> dict[str, Any]:
            if self.submit is not None:
                made = self.submit(self.queue, body.question)
                job_id = str(getattr(made, "id", made))
            else:
                job_id = enqueue_research(body.question, body.version, queue=self.queue).id
            response.headers["Location"] = f"/jobs/{job_id}"
            return {"id": job_id, "status": "queued"}

        @api.get("/jobs/{job_id}")
        def status(job_id: str) -> dict[str, Any]:
            try:
                job = Job.fetch(job_id, connection=self.connection)
            except NoSuchJobError:
                raise HTTPException(404, "no such job") from None
            found = job.get_status(refresh=False)
            state = found.value if found is not None else "queued"
            return {
                "id": job.id,
                "status": state,
                "progress": job.meta.get("progress"),
                "result": job.return_value() if state == "finished" else None,
            }

        return api

    async def _chat(self, question: str, trace: ResearchTrace) -> AsyncIterator[ServerSentEvent]:
        self._loop = asyncio.get_running_loop()
        if self._llm is None:
            self._llm = async_client()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def progress(event: ProgressEvent) -> None:
            events.put_nowait(("progress", dict(event)))

        def token(text: str) -> None:
            events.put_nowait(("token", {"text": text}))

        task = asyncio.ensure_future(
            arun_research(
                question,
                client=self._llm,
                progress=progress,
                on_text=token,
                trace=trace,
                version="v1",
            )
        )
        self._tasks.add(task)
        self.chats_started += 1
        task.add_done_callback(lambda _t: events.put_nowait(("end", None)))
        try:
            pending: tuple[str, Any] | None = None
            while True:
                kind, data = pending or await events.get()
                pending = None
                if kind == "end":
                    break
                if kind == "token":  # send the tokens that piled up as one event
                    pieces = [data["text"]]
                    while not events.empty():
                        pending = events.get_nowait()
                        if pending[0] != "token":
                            break
                        pieces.append(pending[1]["text"])
                        pending = None
                    data = {"text": "".join(pieces)}
                yield ServerSentEvent(data=json.dumps(data), event=kind)
            if task.cancelled():
                return
            yield ServerSentEvent(data=json.dumps(task.result().as_dict()), event="done")
        finally:
            self._tasks.discard(task)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- a deploy ------------------------------------------------------------------------------

    def deploy(self) -> int:
        """Replace the web process: every chat request in flight dies. Returns how many."""
        loop = self._loop
        if loop is None:
            return 0
        done = threading.Event()
        killed: list[int] = []

        def kill_all() -> None:
            tasks = [t for t in self._tasks if not t.done()]
            for task in tasks:
                task.cancel()
            killed.append(len(tasks))
            done.set()

        loop.call_soon_threadsafe(kill_all)
        done.wait(5)
        count = killed[0] if killed else 0
        self.chats_lost_in_deploy += count
        return count


@dataclass
class RunningService:
    """The service on a loopback port: `url`, `service`, `stop()`."""

    url: str
    service: ResearchService
    _served: ServerThread

    def stop(self) -> None:
        self._served.stop()

    def __enter__(self) -> RunningService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(service: ResearchService | None = None) -> RunningService:
    """Serve the rig on 127.0.0.1 (a free port) from a background thread."""
    service = service or ResearchService()
    served = serving.serve_in_thread(
        service, name="research-rig", log_level="critical", lifespan="off", graceful_s=1
    )
    return RunningService(served.url, service, served)
