"""The simulated model: decides the answer to a validated Messages request.

Requests are validated first, in `schema` (the real API's rules and messages).
The answer is a list of content blocks
(text and tool_use) with a stop reason; timing is added later by the engine.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from dataclasses import dataclass, field
from typing import Any

from . import textgen, thinking
from .schema import check_model
from .tokens import count_content_tokens, count_tokens, tokenize

_ID_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, rng: random.Random) -> str:
    """A seeded id like the real API's (prefix + 24 letters and digits)."""
    return prefix + "".join(rng.choices(_ID_ALPHABET, k=24))


@dataclass
class Block:
    """One content block of an answer; `pieces` are its output tokens, in order."""

    kind: str  # "text", "tool_use" or "thinking" (then `text` is the reasoning)
    text: str = ""
    tool_id: str = ""
    tool_name: str = ""
    tool_input: dict[str, Any] = field(default_factory=dict)
    _cache: tuple[str, list[str]] | None = field(default=None, repr=False, compare=False)

    @property
    def pieces(self) -> list[str]:
        """Tokens of the block (cached: a long answer is tokenized once, not per use)."""
        key = self.text if self.kind != "tool_use" else json.dumps(self.tool_input)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        if self.kind != "tool_use":
            pieces = tokenize(key)
        else:
            # tool input is streamed as partial JSON, a few characters at a time
            pieces = [key[i : i + 12] for i in range(0, len(key), 12)] or ["{}"]
        self._cache = (key, pieces)
        return pieces

    def as_json(self) -> dict[str, Any]:
        if self.kind == "text":
            return {"type": "text", "text": self.text}
        if self.kind == "thinking":
            return {
                "type": "thinking",
                "thinking": self.text,
                "signature": thinking.signature(self.text),
            }
        return {
            "type": "tool_use",
            "id": self.tool_id,
            "name": self.tool_name,
            "input": self.tool_input,
        }


@dataclass
class Completion:
    model: str
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int

    @property
    def output_tokens(self) -> int:
        return sum(len(b.pieces) for b in self.blocks)

    @property
    def thinking_tokens(self) -> int:
        """Output tokens spent thinking (billed as output, written before the answer)."""
        return sum(len(b.pieces) for b in self.blocks if b.kind == "thinking")


# --- reading the conversation -------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            parts.append(_text_of(block.get("content", "")))
    return "\n".join(parts)


def _system_text(system: Any) -> str:
    if isinstance(system, list):
        return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return str(system or "")


def input_tokens(body: dict[str, Any]) -> int:
    total = count_tokens(_system_text(body.get("system"))) + 3
    for message in body.get("messages", []):
        total += count_content_tokens(message.get("content")) + 4
    for tool in body.get("tools") or []:
        total += count_tokens(json.dumps(tool)) + 10
    return total


def request_digest(body: dict[str, Any]) -> str:
    # what decides the text: stop_sequences and max_tokens only cut it afterwards
    relevant = {k: body.get(k) for k in ("model", "system", "messages", "tools", "tool_choice")}
    if body.get("thinking") is not None:  # only when set: every other request keeps its digest
        relevant["thinking"] = body["thinking"]
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


# --- deciding the answer ----------------------------------------------------------------


@dataclass(frozen=True)
class _Conversation:
    """What an answer is written from: the question, the latest turn, what came before."""

    question: str
    """The first user turn: what a tool-using agent keeps working on."""
    latest: str
    """The last user turn (the question again when the conversation ends on the model)."""
    tool_results: list[str]
    assistant_texts: list[str]

    @classmethod
    def read(cls, messages: list[dict[str, Any]]) -> _Conversation:
        question = _text_of(messages[0]["content"])
        last = messages[-1]
        return cls(
            question=question,
            latest=_text_of(last["content"]) if last["role"] == "user" else question,
            tool_results=[
                _text_of(b.get("content", ""))
                for m in messages
                if m["role"] == "user" and isinstance(m["content"], list)
                for b in m["content"]
                if b.get("type") == "tool_result"
            ],
            assistant_texts=[_text_of(m["content"]) for m in messages if m["role"] == "assistant"],
        )

    @property
    def topic(self) -> str:
        """What the answer (and its thinking) is about: once tools have answered, the
        original question; before, the latest turn."""
        return self.question if self.tool_results else self.latest

    def prompt(self, system: str) -> textgen.Prompt:
        return textgen.Prompt(
            system=system,
            user=self.topic,
            previous_answer=self.assistant_texts[-1] if self.assistant_texts else "",
            tool_results=self.tool_results,
            turn=len(self.assistant_texts),
        )


def complete(body: dict[str, Any], rng: random.Random) -> Completion:
    """The answer to a validated request: text, or the next tool call of a plan.

    The seeded `rng` is drawn from in a fixed order (tool call or text, then thinking),
    so the same request and seed give the same answer.
    """
    model = check_model(body["model"])
    conversation = _Conversation.read(body["messages"])
    blocks = _tool_call(body, conversation, rng)
    stop_reason = "tool_use" if blocks else "end_turn"
    if not blocks:
        prompt = conversation.prompt(_system_text(body.get("system")))
        blocks = [Block("text", text=textgen.compose(prompt, rng))]
    budget = thinking.budget_tokens(body)
    if budget:
        notes = thinking.reasoning(conversation.topic, thinking.planned_tokens(budget, rng), rng)
        blocks = [Block("thinking", text=notes), *blocks]
    completion = Completion(model, blocks, stop_reason, None, input_tokens(body))
    _apply_stop_sequences(completion, body.get("stop_sequences") or [])
    _apply_max_tokens(completion, int(body.get("max_tokens") or 4096))
    return completion


def _tool_call(
    body: dict[str, Any], conversation: _Conversation, rng: random.Random
) -> list[Block]:
    """The next call of the tool plan, or [] when the model answers in text now."""
    tools = body.get("tools") or []
    tool_choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or tool_choice.get("type") == "none":
        return []
    return _next_tool_call(
        body["messages"],
        tools,
        tool_choice,
        conversation.question,
        conversation.tool_results,
        rng,
    )


def planned_tool_calls(question: str) -> int:
    """How many tool calls the model makes for a question: 5 to 8, fixed per question."""
    return 5 + int(hashlib.sha256(question.encode()).hexdigest(), 16) % 4


def _next_tool_call(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    tool_choice: dict[str, Any],
    question: str,
    tool_results: list[str],
    rng: random.Random,
) -> list[Block]:
    """A short preamble and the next tool call, or [] once the plan is done (unless forced)."""
    calls_made = _calls_made(messages)
    forced = tool_choice.get("type") in ("any", "tool")
    if len(calls_made) >= planned_tool_calls(question) and not forced:
        return []
    name = _chosen_tool(tool_choice, [t["name"] for t in tools], calls_made)
    tool = next(t for t in tools if t["name"] == name)
    used_ids = {str(v) for c in calls_made for k, v in c["input"].items() if "id" in k}
    tool_input = _fill_input(tool, question, tool_results, used_ids, len(calls_made), rng)
    preamble = Block("text", text=_preamble(name, tool_input))
    call = Block("tool_use", tool_id=new_id("toolu_", rng), tool_name=name, tool_input=tool_input)
    return [preamble, call]


def _calls_made(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool calls the model made earlier in the conversation, in order."""
    return [
        b
        for m in messages
        if m["role"] == "assistant" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_use"
    ]


def _chosen_tool(
    tool_choice: dict[str, Any], names: list[str], calls_made: list[dict[str, Any]]
) -> str:
    """The tool `tool_choice` names, else the plan's next step."""
    if tool_choice.get("type") == "tool" and tool_choice.get("name") in names:
        return str(tool_choice["name"])
    return _pick_tool(names, calls_made)


def _pick_tool(names: list[str], calls_made: list[dict[str, Any]]) -> str:
    """Search first, then read what was found, taking notes; search again half-way."""

    def find(word: str) -> str | None:
        return next((n for n in names if word in n.lower()), None)

    search, read, note = find("search"), find("read") or find("fetch"), find("note")
    step = len(calls_made)
    previous = calls_made[-1].get("name") if calls_made else None
    if search and (step == 0 or step == 4):
        return search
    if note and previous == read and step % 2 == 0:
        return note
    if read:
        return read
    return names[step % len(names)]


_PLAIN_VALUES: dict[str, Any] = {"integer": 3, "number": 3, "boolean": True}
"""What the model puts in a numeric or yes/no field: a plain, valid value."""

_QUERY_FIELDS = frozenset({"query", "q", "search", "question", "topic", "terms"})
"""String fields that ask for search terms."""

_DOCUMENT_ID = re.compile(r"\b[a-z]{2,10}-\d{1,4}\b")
"""What a document id looks like in a tool's result (`doc-12`)."""


@dataclass(frozen=True)
class _Arguments:
    """What the model fills a tool call's fields from: the question and what tools returned."""

    question: str
    tool_results: list[str]
    used_ids: set[str]
    step: int
    rng: random.Random

    def value(self, name: str, kind: object) -> Any:
        """A field's value, by its JSON type and then by its name (a list of types, as in
        `["string", "null"]`, counts as a string)."""
        if isinstance(kind, str) and kind in _PLAIN_VALUES:
            return _PLAIN_VALUES[kind]
        if kind == "array":
            return []
        lowered = name.lower()
        if "id" in lowered:
            return self.document_id()
        if lowered in _QUERY_FIELDS:
            return self.search_terms()
        return self.note()

    def document_id(self) -> str:
        """The first id the results named that was not read yet, else the last one named."""
        found = [i for result in self.tool_results for i in _DOCUMENT_ID.findall(result)]
        fresh = [i for i in dict.fromkeys(found) if i not in self.used_ids]
        return fresh[0] if fresh else (found[-1] if found else "doc-1")

    def search_terms(self) -> str:
        """The question's keywords; a later search swaps one for a new angle (seeded)."""
        words = textgen.keywords(self.question, 4)
        if self.step > 0 and words:
            words = [*words[1:], self.rng.choice(["evidence", "trade-offs", "examples"])]
        return " ".join(words) or self.question[:60]

    def note(self) -> str:
        """A note on the latest result (or the question, before any)."""
        last = self.tool_results[-1] if self.tool_results else self.question
        return "Key point: " + " ".join(last.split()[:18])


def _fill_input(
    tool: dict[str, Any],
    question: str,
    tool_results: list[str],
    used_ids: set[str],
    step: int,
    rng: random.Random,
) -> dict[str, Any]:
    """The arguments of a call to `tool`: every required field (all, if none is marked)."""
    schema = tool.get("input_schema") or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    required = schema.get("required") or list(properties)
    arguments = _Arguments(question, tool_results, used_ids, step, rng)
    return {
        name: arguments.value(name, (properties.get(name) or {}).get("type", "string"))
        for name in required
    }


def _preamble(name: str, tool_input: dict[str, Any]) -> str:
    argument = next(iter(tool_input.values()), "")
    return f"Calling {name} with {json.dumps(argument)}."


def _apply_stop_sequences(completion: Completion, stops: list[str]) -> None:
    text_blocks = [b for b in completion.blocks if b.kind == "text"]
    if not stops or not text_blocks or completion.stop_reason == "tool_use":
        return
    block = text_blocks[-1]
    hits = [(block.text.find(s), s) for s in stops if s in block.text]
    if hits:
        position, sequence = min(hits)
        block.text = block.text[:position]
        completion.stop_reason, completion.stop_sequence = "stop_sequence", sequence


def _apply_max_tokens(completion: Completion, max_tokens: int) -> None:
    budget = max_tokens
    kept: list[Block] = []
    for block in completion.blocks:
        pieces = block.pieces
        if len(pieces) <= budget:
            kept.append(block)
            budget -= len(pieces)
            continue
        if block.kind == "text" and budget > 0:
            kept.append(Block("text", text="".join(pieces[:budget])))
        completion.blocks = kept or [Block("text", text="")]
        completion.stop_reason, completion.stop_sequence = "max_tokens", None
        return
