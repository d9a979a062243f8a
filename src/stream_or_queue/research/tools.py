"""The research assistant's tools: search, read a document, take notes.

The model asks for a tool with a `tool_use` block; the code here runs it locally
over the bundled corpus. Each call takes simulated time (a search engine
answering, a page loading and being parsed, a note being filed) so that a whole
question lasts as long as a real research agent does: about a minute or two.

A tool call is split in two on purpose. `Toolbox.plan()` decides the outcome and
how long it takes without waiting; `run_tool()` / `arun_tool()` then wait that
long. The outcome is plain data, so a durable job can checkpoint it and a resumed
job can replay it without waiting again (`Toolbox.record()`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import clock, config
from .corpus import UnknownDocument, document, search

__all__ = [
    "TOOLS",
    "ToolOutcome",
    "Toolbox",
    "arun_tool",
    "run_tool",
]

TOOLS: list[dict[str, Any]] = [
    {
        "name": "search",
        "description": (
            "Search the research library. Returns up to four documents as JSON lines with "
            "their id, title and first sentence. Search first, then read what looks relevant."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "a few keywords"}},
            "required": ["query"],
        },
    },
    {
        "name": "read_document",
        "description": "Read one document of the library by its id (for example doc-7).",
        "input_schema": {
            "type": "object",
            "properties": {"doc_id": {"type": "string", "description": "a document id"}},
            "required": ["doc_id"],
        },
    },
    {
        "name": "take_notes",
        "description": "File a short note to use when writing the answer.",
        "input_schema": {
            "type": "object",
            "properties": {"note": {"type": "string", "description": "the note"}},
            "required": ["note"],
        },
    },
]
"""Tool definitions in the Messages API's format."""

_STEP_OF_TOOL = {"search": "searching", "read_document": "reading", "take_notes": "notes"}


@dataclass(frozen=True)
class ToolOutcome:
    """What one tool call returned and how long it took (simulated seconds)."""

    name: str
    input: dict[str, Any]
    output: str
    duration_s: float
    is_error: bool = False
    doc_ids: tuple[str, ...] = ()

    @property
    def step(self) -> str:
        """The progress step this call belongs to: searching, reading or notes."""
        return _STEP_OF_TOOL.get(self.name, "reading")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["doc_ids"] = list(self.doc_ids)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolOutcome:
        return cls(
            name=str(data["name"]),
            input=dict(data["input"]),
            output=str(data["output"]),
            duration_s=float(data["duration_s"]),
            is_error=bool(data.get("is_error", False)),
            doc_ids=tuple(data.get("doc_ids", ())),
        )


def _rng(name: str, tool_input: Mapping[str, Any]) -> random.Random:
    """The same draws every time for the same call, so a replay takes the same time."""
    return random.Random(f"{name}|{json.dumps(tool_input, sort_keys=True)}")


def _duration(name: str, tool_input: Mapping[str, Any], low: float, high: float) -> float:
    """A duration in [low, high], the same every time for the same call."""
    return round(_rng(name, tool_input).uniform(low, high), 3)


def _search_duration(tool_input: Mapping[str, Any]) -> float:
    draw = _rng("search", tool_input).lognormvariate(0.0, config.RESEARCH_SEARCH_SPREAD)
    return round(min(60.0, config.RESEARCH_SEARCH_MEDIAN_S * draw), 3)


@dataclass
class Toolbox:
    """The tools' state for one question: the notes filed and the documents read.

    `digests` (document id -> short summary) makes `read_document` return the
    digest instead of the full text: v3 prepares digests ahead of time in a batch,
    which keeps every later turn of the conversation smaller and cheaper.
    """

    digests: Mapping[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    def plan(self, name: str, tool_input: Mapping[str, Any]) -> ToolOutcome:
        """The outcome of a call, without waiting for it. Bad input is an error *result*."""
        tool_input = dict(tool_input) if isinstance(tool_input, Mapping) else {}
        if name == "search":
            return self._search(tool_input)
        if name == "read_document":
            return self._read(tool_input)
        if name == "take_notes":
            return self._note(tool_input)
        known = ", ".join(t["name"] for t in TOOLS)
        return ToolOutcome(
            name, tool_input, f"Error: unknown tool {name!r}; known: {known}.", 0.5, is_error=True
        )

    def record(self, outcome: ToolOutcome) -> None:
        """Update the state after a call (also when replaying it from a checkpoint)."""
        if outcome.is_error:
            return
        if outcome.name == "search":
            self.found.extend(i for i in outcome.doc_ids if i not in self.found)
        elif outcome.name == "read_document":
            self.read.extend(i for i in outcome.doc_ids if i not in self.read)
        elif outcome.name == "take_notes":
            self.notes.append(str(outcome.input.get("note", "")))

    # --- the three tools -------------------------------------------------------------

    def _search(self, tool_input: dict[str, Any]) -> ToolOutcome:
        query = tool_input.get("query")
        duration = _search_duration(tool_input)
        if not isinstance(query, str) or not query.strip():
            return ToolOutcome(
                "search",
                tool_input,
                "Error: `query` must be a non-empty string.",
                duration,
                is_error=True,
            )
        hits = search(query)
        if not hits:
            return ToolOutcome(
                "search", tool_input, "No documents match; try other keywords.", duration
            )
        lines = [
            json.dumps({"id": h.document.id, "title": h.document.title, "snippet": h.snippet})
            for h in hits
        ]
        return ToolOutcome(
            "search",
            tool_input,
            "\n".join(lines),
            duration,
            doc_ids=tuple(h.document.id for h in hits),
        )

    def _read(self, tool_input: dict[str, Any]) -> ToolOutcome:
        doc_id = tool_input.get("doc_id")
        try:
            doc = document(str(doc_id))
        except UnknownDocument as exc:
            return ToolOutcome("read_document", tool_input, f"Error: {exc}.", 1.0, is_error=True)
        base = config.RESEARCH_READ_BASE_S + config.RESEARCH_READ_PER_WORD_S * doc.words
        duration = _duration("read_document", tool_input, base * 0.9, base * 1.1)
        body = doc.text
        if self.digests is not None and doc.id in self.digests:
            body = self.digests[doc.id]
        text = f"Title: {doc.title}\n{body} [{doc.id}]"
        return ToolOutcome("read_document", tool_input, text, duration, doc_ids=(doc.id,))

    def _note(self, tool_input: dict[str, Any]) -> ToolOutcome:
        note = tool_input.get("note")
        low, high = config.RESEARCH_NOTES_S
        duration = _duration("take_notes", tool_input, low, high)
        if not isinstance(note, str) or not note.strip():
            error = "Error: `note` must be a non-empty string."
            return ToolOutcome("take_notes", tool_input, error, duration, is_error=True)
        return ToolOutcome(
            "take_notes", tool_input, f"Noted ({len(self.notes) + 1} so far).", duration
        )


def run_tool(toolbox: Toolbox, name: str, tool_input: Mapping[str, Any]) -> ToolOutcome:
    """Run one tool call: decide its outcome, then wait its simulated duration."""
    outcome = toolbox.plan(name, tool_input)
    clock.sleep(outcome.duration_s)
    return outcome


async def arun_tool(toolbox: Toolbox, name: str, tool_input: Mapping[str, Any]) -> ToolOutcome:
    """The async twin of `run_tool`."""
    outcome = toolbox.plan(name, tool_input)
    await clock.asleep(outcome.duration_s)
    return outcome
