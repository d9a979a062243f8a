"""Answers held inside one request: the chat stream, and the anti-pattern kept to measure it.

- `GET /chat?question=...` (or `POST /chat` with JSON): SSE of the answer's tokens -
  the right tool when the user watches a short answer appear; `&thinking=N` (a
  thinking budget) streams the model's reasoning first, as `thinking` events.
- `POST /research/sync` and `GET /research/stream`: the whole research agent held
  inside one request - the design notebook 04 shows failing at the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from .. import config
from ..llm import async_client
from ..research.agent import run_research as agent_in_request
from ..simulator.thinking import MIN_BUDGET_TOKENS
from . import jobs
from .schemas import QuestionIn, question_or_422

__all__ = ["CHAT_MAX_THINKING", "CHAT_MAX_TOKENS", "CHAT_SYSTEM", "router", "run_in_request"]

router = APIRouter()
T = TypeVar("T")
CHAT_MAX_TOKENS = 400
CHAT_SYSTEM = "Answer briefly and directly, in a few sentences."


async def _chat(question: str, thinking_budget: int = 0) -> AsyncIterator[ServerSentEvent]:
    """The answer's tokens as `token` events; with a thinking budget, the model's
    reasoning first, as `thinking` events, so that the page can show it."""
    llm = async_client()
    extra: dict[str, Any] = {}
    if thinking_budget:
        extra["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
    try:
        async with llm.messages.stream(
            model=config.LARGE_MODEL,
            max_tokens=CHAT_MAX_TOKENS + thinking_budget,
            system=CHAT_SYSTEM,
            messages=[{"role": "user", "content": question}],
            **extra,
        ) as stream:
            async for event in stream:
                if event.type == "text":
                    yield ServerSentEvent(data=json.dumps({"text": event.text}), event="token")
                elif event.type == "thinking":
                    yield ServerSentEvent(
                        data=json.dumps({"text": event.thinking}), event="thinking"
                    )
            message = await stream.get_final_message()
        yield ServerSentEvent(
            event="done",
            data=json.dumps(
                {"stop_reason": message.stop_reason, "output_tokens": message.usage.output_tokens}
            ),
        )
    finally:
        await llm.close()


CHAT_MAX_THINKING = 16_000
"""The largest thinking budget `GET /chat?thinking=N` accepts (the API's floor is 1,024)."""


@router.get("/chat")
async def chat_get(
    question: Annotated[str, Query()],
    thinking: Annotated[int, Query(ge=0, le=CHAT_MAX_THINKING)] = 0,
) -> EventSourceResponse:
    if 0 < thinking < MIN_BUDGET_TOKENS:
        raise HTTPException(422, f"thinking: a budget is at least {MIN_BUDGET_TOKENS} tokens")
    return EventSourceResponse(_chat(question_or_422(question), thinking))


@router.post("/chat")
async def chat_post(body: QuestionIn) -> EventSourceResponse:
    return EventSourceResponse(_chat(body.question))


@router.post("/research/sync")
async def research_sync(body: QuestionIn) -> dict[str, Any]:
    return await run_in_request(body.question)


@router.get("/research/stream")
async def research_stream(question: Annotated[str, Query()]) -> EventSourceResponse:
    return EventSourceResponse(_research_stream(question_or_422(question)))


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


class _WhileOpen:
    """The agent's step runner inside a request: no step starts once the request ended.

    Without it, an agent cut during a tool call would go on to its next model call
    and pay for its input before the first token told it to stop.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def step(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.stop.is_set():
            raise jobs.JobCanceled(f"the request ended before {name}")
        return fn(*args, **kwargs)


async def run_in_request(
    question: str,
    *,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the research agent while the request waits: the design that fails at the edge.

    The agent runs on its own thread; the request awaits it. When the request is
    cancelled (the edge cut it, the user closed the tab), the agent is stopped at
    its next step, progress report or token, so it stops spending: it pays for the
    model calls it started (a streamed one up to the tokens generated so far), as
    `research.schedule.Schedule.cost_by` computes - but what it already spent is
    spent, and the answer is lost.
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
                agent_in_request(  # held in the request: nothing to resume, so no workflow
                    question,
                    progress=progress,
                    on_text=text if on_text is not None else None,
                    steps=_WhileOpen(stop),
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
