"""The agent loop: the SDK's tool use, one model turn and one tool call at a time.

The loop is the textbook one. Send the question with the tool definitions; when
the model answers with `tool_use` blocks, run those tools and send their results
back; stop when the model answers with text. The simulated model plans 5-8 tool
calls per question and then writes four paragraphs that cite `[doc-N]`.

Every model turn and every tool call is a *named step* (`turn-0`, `tool-0`,
`turn-1`, ...). Pass `steps=` an object with `step(name, fn)` (and `astep` for
the async twin) - `research.durable.DBOSSteps` runs each as a DBOS step - and each
step's result is recorded as it finishes: a workflow that crashes and runs again replays
the finished steps from their checkpoints and redoes none of them. Without
`steps`, nothing is stored (the v1 chat box, which has nowhere to resume from).

`run_research` and `arun_research` are twins: the same loop, sync and async.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anthropic

from .. import clock, config
from ..llm import async_client as make_async_client
from ..llm import client as make_client
from .corpus import UnknownDocument, document
from .result import (
    CallUsage,
    ProgressCallback,
    ProgressEvent,
    ResearchResult,
    ResearchTrace,
    sources_of,
)
from .tools import TOOLS, Toolbox, ToolOutcome, arun_tool, run_tool

__all__ = [
    "ANSWER_SYSTEM",
    "GATHER_SYSTEM",
    "AsyncStepRunner",
    "NoCheckpoints",
    "ResearchError",
    "StepRunner",
    "agather",
    "arun_research",
    "check_question",
    "gather",
    "run_research",
]

T = TypeVar("T")

ANSWER_SYSTEM = (
    "You are a research assistant. Use the tools: search the library, read the most relevant "
    "documents and take notes. Then answer in four paragraphs, citing the documents you used "
    "as [doc-N]."
)
GATHER_SYSTEM = (
    "You are a research assistant gathering material: search the library, read the most "
    "relevant documents and take notes. Do not write the answer; when you have enough "
    "material, reply with the single word DONE."
)
GATHER_MAX_TOKENS = 64
"""A gathering turn is a short tool call or 'DONE': cap it, so it can never turn into an essay."""


class ResearchError(RuntimeError):
    """The agent could not finish (a runaway loop, or no answer at all)."""


class StepRunner(Protocol):
    """Anything that runs named steps and may remember their results (`DBOSSteps`)."""

    def step(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


class AsyncStepRunner(Protocol):
    """The async twin: `astep(name, fn)` awaits `fn()` unless a checkpoint has its result."""

    async def astep(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...


class NoCheckpoints:
    """Runs every step and remembers nothing: what a request handler does."""

    def step(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    async def astep(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


def check_question(question: object) -> str:
    """The question, stripped; a clear ValueError for anything that is not one."""
    if not isinstance(question, str):
        raise ValueError(f"question must be a string, got {type(question).__name__}")
    text = question.strip()
    if not text:
        raise ValueError("question must not be empty")
    if len(text) > config.WEB_QUESTION_MAX_CHARS:
        raise ValueError(
            f"question is {len(text)} characters; the limit is {config.WEB_QUESTION_MAX_CHARS}"
        )
    return text


def _block(block: Any) -> dict[str, Any]:
    """A response content block as the plain dict the next request sends back."""
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)}
    if block.type == "text":
        return {"type": "text", "text": block.text}
    return {"type": str(block.type)}


def _turn(message: Any, request_id: str) -> dict[str, Any]:
    """A model turn as JSON data (what a checkpoint stores)."""
    return {
        "content": [_block(b) for b in message.content],
        "stop_reason": message.stop_reason,
        "model": message.model,
        "input_tokens": int(message.usage.input_tokens),
        "output_tokens": int(message.usage.output_tokens),
        "request_id": request_id,
    }


def _percent(calls_done: int) -> int:
    return min(85, 5 + 10 * calls_done)


def _tool_message(name: str, tool_input: Mapping[str, Any]) -> str:
    if name == "search":
        return f'Searching the library for "{tool_input.get("query", "")}"'
    if name == "read_document":
        doc_id = str(tool_input.get("doc_id", ""))
        try:
            return f"Reading {doc_id}: {document(doc_id).title}"
        except UnknownDocument:
            return f"Reading {doc_id}"
    if name == "take_notes":
        return "Taking notes"
    return f"Calling {name}"


@dataclass
class _Loop:
    """The state of one question's loop, shared by the sync and async drivers."""

    question: str
    model: str
    system: str
    max_tokens: int
    toolbox: Toolbox
    trace: ResearchTrace
    progress: Callable[[ProgressEvent], Any] | None  # may return an awaitable (async driver)
    final_kind: str = "answer"
    messages: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    calls: int = 0

    def __post_init__(self) -> None:
        self.trace.question = self.question
        self.messages = [{"role": "user", "content": self.question}]

    def params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "tools": TOOLS,
            "messages": list(self.messages),
        }

    def emit(self, step: str, percent: int, message: str) -> None:
        if self.progress is not None:
            event: ProgressEvent = {"step": step, "percent": percent, "message": message}
            self.progress(event)

    async def aemit(self, step: str, percent: int, message: str) -> None:
        """`emit` for the async driver: `progress` may be a coroutine function there."""
        if self.progress is not None:
            event: ProgressEvent = {"step": step, "percent": percent, "message": message}
            sent: Any = self.progress(event)
            if inspect.isawaitable(sent):
                await sent  # e.g. DBOS.write_stream_async in a workflow

    def check_budget(self) -> None:
        if self.turns >= config.RESEARCH_MAX_TURNS:
            raise ResearchError(
                f"the agent made {self.turns} model turns without finishing; "
                f"the limit is config.RESEARCH_MAX_TURNS = {config.RESEARCH_MAX_TURNS}"
            )

    def apply_turn(self, turn: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Record a model turn; return its tool calls (none means the model is done)."""
        content = list(turn["content"])
        tool_uses = [b for b in content if b.get("type") == "tool_use"]
        self.trace.usage.append(
            CallUsage(
                step=self.turns,
                kind="turn" if tool_uses else self.final_kind,
                model=str(turn["model"]),
                input_tokens=int(turn["input_tokens"]),
                output_tokens=int(turn["output_tokens"]),
                request_id=str(turn.get("request_id", "")),
            )
        )
        self.turns += 1
        if tool_uses:
            self.messages.append({"role": "assistant", "content": content})
        else:
            texts = [b.get("text", "") for b in content if b.get("type") == "text"]
            self.trace.answer = "".join(texts)
        return tool_uses

    def apply_tool(self, outcome: ToolOutcome) -> None:
        self.toolbox.record(outcome)
        self.trace.tool_calls.append(outcome)
        self.calls += 1

    def append_results(self, tool_uses: list[dict[str, Any]], outcomes: list[ToolOutcome]) -> None:
        results: list[dict[str, Any]] = []
        for use, outcome in zip(tool_uses, outcomes, strict=True):
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": use["id"],
                "content": outcome.output,
            }
            if outcome.is_error:
                block["is_error"] = True
            results.append(block)
        self.messages.append({"role": "user", "content": results})

    def mark(self, name: str, ran: bool) -> None:
        (self.trace.executed if ran else self.trace.replayed).append(name)

    def result(self, duration_s: float, version: str) -> ResearchResult:
        answer = self.trace.answer
        return ResearchResult(
            question=self.question,
            answer=answer,
            sources=sources_of(answer),
            tool_calls=list(self.trace.tool_calls),
            usage=list(self.trace.usage),
            duration_s=duration_s,
            version=version,
            executed_steps=list(self.trace.executed),
            replayed_steps=list(self.trace.replayed),
        )


def _new_loop(
    question: str,
    *,
    model: str,
    gather_only: bool,
    digests: Mapping[str, str] | None,
    trace: ResearchTrace | None,
    progress: Callable[[ProgressEvent], Any] | None,
) -> _Loop:
    return _Loop(
        question=check_question(question),
        model=model,
        system=GATHER_SYSTEM if gather_only else ANSWER_SYSTEM,
        max_tokens=GATHER_MAX_TOKENS if gather_only else 1024,
        toolbox=Toolbox(digests=digests),
        trace=trace if trace is not None else ResearchTrace(),
        progress=progress,
        final_kind="done" if gather_only else "answer",
    )


# --- the sync driver -------------------------------------------------------------------


def _call_model(
    client: anthropic.Anthropic,
    params: dict[str, Any],
    trace: ResearchTrace,
    on_text: Callable[[str], None] | None,
) -> dict[str, Any]:
    if on_text is None:
        message = client.messages.create(**params)
        return _turn(message, str(getattr(message, "_request_id", "") or ""))
    with client.messages.stream(**params) as stream:
        trace.in_flight = stream.response.headers.get("request-id", "")
        for text in stream.text_stream:
            on_text(text)
        message = stream.get_final_message()
    trace.in_flight = ""
    return _turn(message, str(stream.response.headers.get("request-id", "")))


def _tracked(fn: Callable[..., T], *args: Any) -> tuple[Callable[[], T], list[bool]]:
    """`fn(*args)` as a step body, and a list that says whether the body ran (or was replayed)."""
    ran: list[bool] = []

    def body() -> T:
        ran.append(True)
        return fn(*args)

    return body, ran


def _atracked(
    fn: Callable[..., Awaitable[T]], *args: Any
) -> tuple[Callable[[], Awaitable[T]], list[bool]]:
    """`_tracked` for a coroutine function: the body is itself a coroutine function, so a
    step runner that awaits it (DBOS's `run_step_async`) runs it as an async step."""
    ran: list[bool] = []

    async def body() -> T:
        ran.append(True)
        return await fn(*args)

    return body, ran


def _tool_dict(toolbox: Toolbox, tool: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return run_tool(toolbox, tool, tool_input).as_dict()


async def _atool_dict(toolbox: Toolbox, tool: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return (await arun_tool(toolbox, tool, tool_input)).as_dict()


def _announce(loop: _Loop, use: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The step name, tool and input of a tool call, with its progress event sent."""
    tool, tool_input = str(use["name"]), dict(use["input"])
    probe = loop.toolbox.plan(tool, tool_input)
    loop.emit(probe.step, _percent(loop.calls), _tool_message(tool, tool_input))
    return f"tool-{loop.calls}", tool, tool_input


async def _aannounce(loop: _Loop, use: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    tool, tool_input = str(use["name"]), dict(use["input"])
    probe = loop.toolbox.plan(tool, tool_input)
    await loop.aemit(probe.step, _percent(loop.calls), _tool_message(tool, tool_input))
    return f"tool-{loop.calls}", tool, tool_input


def _drive(
    loop: _Loop,
    client: anthropic.Anthropic,
    steps: StepRunner,
    on_text: Callable[[str], None] | None,
) -> None:
    while True:
        loop.check_budget()
        name = f"turn-{loop.turns}"
        body, ran = _tracked(_call_model, client, loop.params(), loop.trace, on_text)
        turn = steps.step(name, body)
        loop.mark(name, bool(ran))
        tool_uses = loop.apply_turn(turn)
        if not tool_uses:
            return
        outcomes = []
        for use in tool_uses:
            tool_name, tool, tool_input = _announce(loop, use)
            tool_body, tool_ran = _tracked(_tool_dict, loop.toolbox, tool, tool_input)
            outcome = ToolOutcome.from_dict(steps.step(tool_name, tool_body))
            loop.mark(tool_name, bool(tool_ran))
            loop.apply_tool(outcome)
            outcomes.append(outcome)
        loop.append_results(tool_uses, outcomes)


def run_research(
    question: str,
    *,
    client: anthropic.Anthropic | None = None,
    progress: ProgressCallback | None = None,
    model: str = config.LARGE_MODEL,
    steps: StepRunner | None = None,
    on_text: Callable[[str], None] | None = None,
    digests: Mapping[str, str] | None = None,
    trace: ResearchTrace | None = None,
    version: str = "v2",
) -> ResearchResult:
    """Answer `question` with the agent loop; return the answer with its sources and costs.

    `progress` receives `{"step", "percent", "message"}` events (searching, reading,
    notes, writing, done). `steps` checkpoints each turn and tool call (see the
    module docstring). `on_text` streams the model's text as it is generated (the
    chat box); without it each turn is one plain request. `trace` is filled in as
    the run goes, so a caller can see the work done even if the run is cut short.
    """
    loop = _new_loop(
        question, model=model, gather_only=False, digests=digests, trace=trace, progress=progress
    )
    watch = clock.Stopwatch()
    loop.emit("searching", 0, "Starting the research")
    _drive(loop, client or make_client(), steps or NoCheckpoints(), on_text)
    loop.emit("writing", 95, "Writing the answer")
    result = loop.result(watch.elapsed, version)
    loop.emit("done", 100, f"Answer ready with {len(result.sources)} sources")
    return result


def gather(
    question: str,
    *,
    client: anthropic.Anthropic | None = None,
    progress: ProgressCallback | None = None,
    model: str = config.LARGE_MODEL,
    steps: StepRunner | None = None,
    digests: Mapping[str, str] | None = None,
    trace: ResearchTrace | None = None,
) -> tuple[list[dict[str, Any]], ResearchTrace]:
    """The tool-use part only (v3): the conversation with every tool result, and the trace.

    The model is told to reply DONE instead of writing, and each turn is capped at
    `GATHER_MAX_TOKENS`, so the expensive writing is left for the Batches API.
    """
    loop = _new_loop(
        question, model=model, gather_only=True, digests=digests, trace=trace, progress=progress
    )
    loop.emit("searching", 0, "Starting the research")
    _drive(loop, client or make_client(), steps or NoCheckpoints(), None)
    return loop.messages, loop.trace


# --- the async driver ----------------------------------------------------------------------


async def _acall_model(
    client: anthropic.AsyncAnthropic,
    params: dict[str, Any],
    trace: ResearchTrace,
    on_text: Callable[[str], Awaitable[None] | None] | None,
) -> dict[str, Any]:
    if on_text is None:
        message = await client.messages.create(**params)
        return _turn(message, str(getattr(message, "_request_id", "") or ""))
    async with client.messages.stream(**params) as stream:
        trace.in_flight = stream.response.headers.get("request-id", "")
        async for text in stream.text_stream:
            sent = on_text(text)
            if inspect.isawaitable(sent):
                await sent
        message = await stream.get_final_message()
    trace.in_flight = ""
    return _turn(message, str(stream.response.headers.get("request-id", "")))


async def _adrive(
    loop: _Loop,
    client: anthropic.AsyncAnthropic,
    steps: AsyncStepRunner,
    on_text: Callable[[str], Awaitable[None] | None] | None,
) -> None:
    while True:
        loop.check_budget()
        name = f"turn-{loop.turns}"
        body, ran = _atracked(_acall_model, client, loop.params(), loop.trace, on_text)
        turn = await steps.astep(name, body)
        loop.mark(name, bool(ran))
        tool_uses = loop.apply_turn(turn)
        if not tool_uses:
            return
        outcomes = []
        for use in tool_uses:
            tool_name, tool, tool_input = await _aannounce(loop, use)
            tool_body, tool_ran = _atracked(_atool_dict, loop.toolbox, tool, tool_input)
            outcome = ToolOutcome.from_dict(await steps.astep(tool_name, tool_body))
            loop.mark(tool_name, bool(tool_ran))
            loop.apply_tool(outcome)
            outcomes.append(outcome)
        loop.append_results(tool_uses, outcomes)


async def arun_research(
    question: str,
    *,
    client: anthropic.AsyncAnthropic | None = None,
    progress: Callable[[ProgressEvent], Awaitable[None] | None] | None = None,
    model: str = config.LARGE_MODEL,
    steps: AsyncStepRunner | None = None,
    on_text: Callable[[str], Awaitable[None] | None] | None = None,
    digests: Mapping[str, str] | None = None,
    trace: ResearchTrace | None = None,
    version: str = "v2",
) -> ResearchResult:
    """The async twin of `run_research` (`on_text` and `progress` may be coroutine functions)."""
    loop = _new_loop(
        question, model=model, gather_only=False, digests=digests, trace=trace, progress=progress
    )
    watch = clock.Stopwatch()
    await loop.aemit("searching", 0, "Starting the research")
    await _adrive(loop, client or make_async_client(), steps or NoCheckpoints(), on_text)
    await loop.aemit("writing", 95, "Writing the answer")
    result = loop.result(watch.elapsed, version)
    await loop.aemit("done", 100, f"Answer ready with {len(result.sources)} sources")
    return result


async def agather(
    question: str,
    *,
    client: anthropic.AsyncAnthropic | None = None,
    progress: Callable[[ProgressEvent], Awaitable[None] | None] | None = None,
    model: str = config.LARGE_MODEL,
    steps: AsyncStepRunner | None = None,
    digests: Mapping[str, str] | None = None,
    trace: ResearchTrace | None = None,
) -> tuple[list[dict[str, Any]], ResearchTrace]:
    """The async twin of `gather`."""
    loop = _new_loop(
        question, model=model, gather_only=True, digests=digests, trace=trace, progress=progress
    )
    await loop.aemit("searching", 0, "Starting the research")
    await _adrive(loop, client or make_async_client(), steps or NoCheckpoints(), None)
    return loop.messages, loop.trace
