"""A small research agent over the SDK: the web service's stand-in job.

It searches a bundled handful of notes, reads what it found, takes notes and
writes a four-paragraph answer citing `[doc-N]` - 5 to 8 tool calls, each
followed by a model call, so it takes about a minute of simulated time, like
the research assistant of the course's worked example. The full assistant
lives in `stream_or_queue.research`; this one only has to be real enough for
the web service to run real jobs with real progress.

It has the research assistant's signature, `run_research(question, *,
client=None, progress=None, on_text=None)`: `progress` receives
`{"step", "percent", "message"}` events and `on_text` the answer's text as it
is generated. If either raises, the agent stops there: this is how a
cancelled job or a cut request stops paying.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import anthropic

from .. import clock, config
from ..llm import client as make_client
from ..llm import cost

__all__ = ["CORPUS", "TOOLS", "Answer", "Doc", "Progress", "Source", "run_research"]


class Progress(Protocol):
    def __call__(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    text: str


# Short notes in the course's own words; the agent cites them by id.
CORPUS: tuple[Doc, ...] = (
    Doc("doc-1", "Edge timeouts in practice",
        "Load balancers, CDNs and function platforms end a request that stays open too "
        "long. The limits differ - 29 s, 60 s, 100 s, 300 s - but every stack has one, "
        "and a request that outlives it gets a 504 instead of an answer."),
    Doc("doc-2", "Why agents are slow",
        "An agent alternates model calls and tool calls. Each search or page fetch adds "
        "seconds, and five to eight of them put a research answer past a minute."),
    Doc("doc-3", "Start-then-poll",
        "The client posts the work and gets a job id back at once (202 Accepted). It then "
        "asks for the status now and then, waiting longer between polls as time passes."),
    Doc("doc-4", "Server-sent events",
        "One long response carries events as they happen. Each event can carry an id; a "
        "client that reconnects sends the last id it saw and the server resumes there."),
    Doc("doc-5", "WebSockets",
        "A two-way channel: worth its extra moving parts when the client must talk back "
        "while work runs, such as steering an agent or collaborative editing."),
    Doc("doc-6", "Users and waiting",
        "People stop watching a spinner long before a minute has passed. A page they can "
        "leave and come back to, plus a notification, keeps them."),
    Doc("doc-7", "Queues and workers",
        "A queue stores the work; workers take it one item at a time. A crashed web "
        "process loses nothing because the job and its state live in the queue."),
    Doc("doc-8", "Checkpoints",
        "A long job that saves each finished step can resume after a deploy or crash "
        "instead of starting again and paying for every step twice."),
    Doc("doc-9", "Cost of a lost answer",
        "Tokens are billed when they are generated, delivered or not. A request cut at the "
        "edge has already paid for every model call it made."),
    Doc("doc-10", "Batch APIs",
        "Work that nobody waits for can go through a batch endpoint at half price, with "
        "results within hours."),
    Doc("doc-11", "Progress that means something",
        "Structured steps - searching, reading, writing - tell a person what is happening "
        "and roughly how long is left, which a bare spinner cannot."),
    Doc("doc-12", "Permalinks",
        "A finished answer gets a stable, unguessable address so that it can be opened "
        "later, from a notification or another device."),
)
_DOCS = {d.id: d for d in CORPUS}

TOOLS: list[dict[str, Any]] = [
    {
        "name": "search",
        "description": "Search the notes; returns matching document ids and titles.",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}},
                         "required": ["query"]},
    },
    {
        "name": "read",
        "description": "Read one document by its id (for example doc-3).",
        "input_schema": {"type": "object", "properties": {"doc_id": {"type": "string"}},
                         "required": ["doc_id"]},
    },
    {
        "name": "note",
        "description": "Write down a key point for the answer.",
        "input_schema": {"type": "object", "properties": {"text": {"type": "string"}},
                         "required": ["text"]},
    },
]

# Simulated seconds a tool takes (seeded per question and step): web search and
# page fetches dominate an agent's time, as they do in production.
TOOL_LATENCY_S: dict[str, tuple[float, float]] = {
    "search": (4.0, 12.0),
    "read": (5.0, 16.0),
    "note": (0.2, 1.0),
}
_STEP_OF = {"search": "searching", "read": "reading", "note": "noting"}
SYSTEM = (
    "You are a research assistant. Use the tools to search and read the notes, then "
    "write a four-paragraph answer that cites the notes you used like [doc-3]."
)
MAX_TURNS = 12
WRITING_AFTER_CHARS = 200  # a text block this long, with no tool call yet, is the answer


@dataclass(frozen=True)
class Source:
    id: str
    title: str


@dataclass
class Answer:
    """What the agent produced and what it cost, as JSON-ready fields."""

    question: str
    answer: str
    sources: list[Source]
    tool_calls: list[dict[str, Any]]
    model_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    duration_s: float  # simulated seconds
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _search(query: str) -> str:
    words = {w for w in re.findall(r"[a-z]+", query.lower()) if len(w) > 2}

    def score(doc: Doc) -> int:
        text = f"{doc.title} {doc.text}".lower()
        return sum(text.count(w) for w in words)

    ranked = sorted(CORPUS, key=lambda d: (-score(d), int(d.id.split("-")[1])))
    return "Found " + "; ".join(f"{d.id} ({d.title})" for d in ranked[:3]) + "."


def _run_tool(name: str, tool_input: dict[str, Any]) -> str:
    if name == "search":
        return _search(str(tool_input.get("query", "")))
    if name == "read":
        doc = _DOCS.get(str(tool_input.get("doc_id", "")))
        return f"{doc.title} ({doc.id}). {doc.text}" if doc else "No such document."
    return "Noted."


def _no_progress(event: dict[str, Any]) -> None:
    return None


def run_research(
    question: str,
    *,
    client: anthropic.Anthropic | None = None,
    progress: Progress | Callable[[dict[str, Any]], None] | None = None,
    on_text: Callable[[str], None] | None = None,
    model: str = config.LARGE_MODEL,
) -> Answer:
    """Answer `question` with tool calls, reporting each step to `progress`."""
    llm = client or make_client()
    emit = progress or _no_progress

    def report(step: str, percent: float, message: str) -> None:
        emit({"step": step, "percent": percent, "message": message})

    rng = random.Random(f"tools|{question}")
    watch = clock.Stopwatch()
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    input_tokens = output_tokens = model_calls = 0
    tool_calls: list[dict[str, Any]] = []
    read_ids: list[str] = []
    steps: list[str] = ["planning"]
    report("planning", 2, "Planning the research")
    text = ""
    for _turn in range(MAX_TURNS):
        text, message = _one_turn(llm, model, messages, report, on_text, steps)
        model_calls += 1
        input_tokens += message.usage.input_tokens
        output_tokens += message.usage.output_tokens
        tool_uses = [b for b in message.content if b.type == "tool_use"]
        if not tool_uses:
            break
        messages.append({"role": "assistant",
                         "content": [b.model_dump(exclude_none=True) for b in message.content]})
        results = []
        for use in tool_uses:
            step = _STEP_OF.get(use.name, use.name)
            steps.append(step)
            tool_input = dict(use.input) if isinstance(use.input, dict) else {}
            tool_calls.append({"name": use.name, "input": tool_input})
            report(step, min(85, 5 + 10 * len(tool_calls)), _describe(use.name, tool_input))
            low, high = TOOL_LATENCY_S.get(use.name, (1.0, 3.0))
            clock.sleep(rng.uniform(low, high))
            if use.name == "read":
                read_ids.append(str(tool_input.get("doc_id", "")))
            results.append({"type": "tool_result", "tool_use_id": use.id,
                            "content": _run_tool(use.name, tool_input)})
        messages.append({"role": "user", "content": results})
    report("writing", 95, "Writing the answer")
    cited = list(dict.fromkeys(re.findall(r"\[(doc-\d+)\]", text) + read_ids))
    sources = [Source(d.id, d.title) for i in cited if (d := _DOCS.get(i))]
    report("done", 100, f"Answer ready with {len(sources)} sources")
    return Answer(
        question=question,
        answer=text.strip(),
        sources=sources,
        tool_calls=tool_calls,
        model_calls=model_calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost({"input_tokens": input_tokens, "output_tokens": output_tokens}, model),
        duration_s=round(watch.elapsed, 3),
        steps=steps,
    )


def _one_turn(
    llm: anthropic.Anthropic,
    model: str,
    messages: list[dict[str, Any]],
    report: Callable[[str, float, str], None],
    on_text: Callable[[str], None] | None,
    steps: list[str],
) -> tuple[str, Any]:
    """One streamed model call; text long enough to be the answer is reported as writing."""
    writing = False
    text = pending = ""
    params: dict[str, Any] = {"model": model, "max_tokens": 2_000, "system": SYSTEM,
                              "tools": TOOLS, "messages": messages}
    with llm.messages.stream(**params) as stream:
        for piece in stream.text_stream:
            text += piece
            pending += piece
            if not writing and len(text) >= WRITING_AFTER_CHARS:
                writing = True
                steps.append("writing")
                report("writing", 90, "Writing the answer")
            if writing and on_text is not None:
                on_text(pending)
                pending = ""
        message = stream.get_final_message()
    text = "".join(b.text for b in message.content if b.type == "text")
    return text, message


def _describe(name: str, tool_input: dict[str, Any]) -> str:
    if name == "search":
        return f"Searching the notes for {json.dumps(str(tool_input.get('query', '')))}"
    if name == "read":
        doc = _DOCS.get(str(tool_input.get("doc_id", "")))
        return f"Reading {doc.id}: {doc.title}" if doc else "Reading a document"
    if name == "note":
        return "Taking a note"
    return f"Using {name}"
