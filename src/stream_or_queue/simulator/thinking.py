"""Extended thinking: the reasoning a model writes before its answer, and its rules.

A request with `thinking={"type": "enabled", "budget_tokens": N}` gets a
`thinking` block (text plus an opaque `signature`) before its answer, streamed
as `thinking_delta` events and a `signature_delta`, like the real Messages API.
Thinking tokens are output tokens: they are billed at the output price, count
against `max_tokens` and take the model's time to write, which is the point the
course measures (a better answer costs money and seconds nobody should sit through).

How much of the budget the model uses is the simulator's own assumption (see
`config.THINKING_BUDGET_USE`): real models often stop well short of the budget.
What the API refuses about thinking (the budget's floor, a budget not below
`max_tokens`, thinking blocks outside assistant turns) is checked with the rest of
the request, in `schema.py`.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from .. import config
from . import knowledge
from .tokens import tokenize

__all__ = ["MIN_BUDGET_TOKENS", "budget_tokens", "reasoning", "signature"]

MIN_BUDGET_TOKENS = 1024
"""The API's floor for `budget_tokens` (SDK docstring: "Must be >=1024 and less than
max_tokens")."""


def budget_tokens(body: dict[str, Any]) -> int:
    """The thinking budget of a request, 0 when thinking is off."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        return int(thinking["budget_tokens"])
    return 0


def planned_tokens(budget: int, rng: random.Random) -> int:
    """How many tokens the model thinks for, out of `budget` (seeded; an assumption)."""
    low, high = config.THINKING_BUDGET_USE
    return max(1, round(budget * rng.uniform(low, high)))


_STEPS = (
    "First, what is actually being asked?",
    "Which facts matter here?",
    "Check that against the constraints.",
    "Is there a case where this does not hold?",
    "Weigh the options once more.",
    "Now order the points for the answer.",
)


def reasoning(question: str, tokens: int, rng: random.Random) -> str:
    """About `tokens` tokens of step-by-step notes on `question`, from the knowledge base.

    The notes restate the question, then walk through the material the answer
    draws on, step by step, and stop at exactly `tokens` tokens.
    """
    found = knowledge.retrieve(question)
    material = [m.entry for m in found] or list(knowledge.entries())[:3]
    sentences: list[str] = []
    for entry in material:
        sentences += [entry.gist, *entry.paragraphs, *entry.more]
    head = question.strip().splitlines()[0][:200] if question.strip() else "the request"
    parts = [f"The request: {head}"]
    count = len(tokenize(parts[0]))
    step = 0
    while count < tokens:
        note = _STEPS[step % len(_STEPS)] + " " + sentences[rng.randrange(len(sentences))]
        parts.append(note)
        count += len(tokenize(" " + note))
        step += 1
    return "".join(tokenize("\n".join(parts))[:tokens])


def signature(text: str) -> str:
    """An opaque signature for a thinking block (the real one is verified by the API)."""
    return hashlib.sha256(b"thinking|" + text.encode()).hexdigest()
