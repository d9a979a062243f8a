"""What a research run produces, as plain data a job can store and a page can render.

`ResearchResult.as_dict()` is JSON: it is what the RQ job returns, what the
permalink page shows and what the results table adds up. `ResearchTrace` is the
same information while the run is still going, so that a caller whose run was
cut (an edge timeout, a closed tab) can still count the work that was lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict

from ..llm import cost
from .corpus import UnknownDocument, document
from .tools import ToolOutcome

__all__ = [
    "CallUsage",
    "ProgressCallback",
    "ProgressEvent",
    "ResearchResult",
    "ResearchTrace",
    "Source",
    "cited_ids",
]

Step = Literal["queued", "searching", "reading", "notes", "writing", "done"]


class ProgressEvent(TypedDict):
    """One structured progress update: what the agent is doing, how far it is."""

    step: str
    percent: int
    message: str


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class CallUsage:
    """Tokens and dollars of one model call.

    `kind` says what the call was for: `turn` (a step of the agent loop),
    `answer` (the turn that wrote the answer), `write` (the answer written through
    the Batches API in v3) or `digest` (a document summary prepared in a batch).
    """

    step: int
    kind: str
    model: str
    input_tokens: int
    output_tokens: int
    batch: bool = False
    request_id: str = ""

    @property
    def cost_usd(self) -> float:
        usage = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        return cost(usage, self.model, batch=self.batch)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cost_usd": self.cost_usd}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallUsage:
        return cls(
            step=int(data["step"]),
            kind=str(data["kind"]),
            model=str(data["model"]),
            input_tokens=int(data["input_tokens"]),
            output_tokens=int(data["output_tokens"]),
            batch=bool(data.get("batch", False)),
            request_id=str(data.get("request_id", "")),
        )


@dataclass(frozen=True)
class Source:
    """A document the answer cites, with its title for the result page."""

    id: str
    title: str


_CITATION = re.compile(r"\[([a-z]{2,10}-\d{1,4})\]")


def cited_ids(answer: str) -> list[str]:
    """Document ids cited as `[doc-7]` in an answer, in order of first citation."""
    return list(dict.fromkeys(_CITATION.findall(answer)))


def sources_of(answer: str) -> list[Source]:
    """The cited documents that exist in the corpus, with their titles."""
    found = []
    for doc_id in cited_ids(answer):
        try:
            found.append(Source(doc_id, document(doc_id).title))
        except UnknownDocument:
            continue
    return found


class _Billed:
    """Totals over `usage`, shared by a run in progress and a finished one."""

    usage: list[CallUsage]

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.usage)

    @property
    def input_tokens(self) -> int:
        return sum(u.input_tokens for u in self.usage)

    @property
    def output_tokens(self) -> int:
        return sum(u.output_tokens for u in self.usage)


@dataclass
class ResearchTrace(_Billed):
    """The run so far: filled in step by step, readable even if the run is cut short.

    `executed` counts steps run in this attempt; `replayed` counts steps whose
    result came from a checkpoint of an earlier attempt (no work redone).
    """

    question: str = ""
    tool_calls: list[ToolOutcome] = field(default_factory=list)
    usage: list[CallUsage] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    in_flight: str = ""
    streamed_chars: int = 0
    answer: str = ""

    @property
    def work_s(self) -> float:
        """Simulated seconds spent in tools (the model's own time is not included)."""
        return sum(t.duration_s for t in self.tool_calls)


@dataclass(frozen=True)
class ResearchResult(_Billed):
    """A finished answer with its sources, tool calls, usage, cost and duration."""

    question: str
    answer: str
    sources: list[Source]
    tool_calls: list[ToolOutcome]
    usage: list[CallUsage]
    duration_s: float
    version: str = "v2"
    executed_steps: list[str] = field(default_factory=list)
    replayed_steps: list[str] = field(default_factory=list)

    @property
    def paragraphs(self) -> int:
        return len([p for p in self.answer.split("\n\n") if p.strip()])

    def as_dict(self) -> dict[str, Any]:
        """JSON data: the job's return value and the permalink page's content."""
        return {
            "question": self.question,
            "answer": self.answer,
            "sources": [asdict(s) for s in self.sources],
            "tool_calls": [t.as_dict() for t in self.tool_calls],
            "usage": [u.as_dict() for u in self.usage],
            "cost_usd": round(self.cost_usd, 6),
            "duration_s": round(self.duration_s, 3),
            "version": self.version,
            "executed_steps": list(self.executed_steps),
            "replayed_steps": list(self.replayed_steps),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResearchResult:
        return cls(
            question=str(data["question"]),
            answer=str(data["answer"]),
            sources=[Source(str(s["id"]), str(s["title"])) for s in data.get("sources", [])],
            tool_calls=[ToolOutcome.from_dict(t) for t in data.get("tool_calls", [])],
            usage=[CallUsage.from_dict(u) for u in data.get("usage", [])],
            duration_s=float(data.get("duration_s", 0.0)),
            version=str(data.get("version", "v2")),
            executed_steps=list(data.get("executed_steps", [])),
            replayed_steps=list(data.get("replayed_steps", [])),
        )
