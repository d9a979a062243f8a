"""Extended thinking: the reasoning a model writes before its answer, and its rules.

A request with `thinking={"type": "enabled", "budget_tokens": N}` gets a
`thinking` block (text plus an opaque `signature`) before its answer, streamed
as `thinking_delta` events and a `signature_delta`, like the real Messages API.
Thinking tokens are output tokens: they are billed at the output price, count
against `max_tokens` and take the model's time to write, which is the point the
course measures (a better answer costs money and seconds nobody should sit through).

How much of the budget the model uses is the simulator's own assumption (see
`config.THINKING_BUDGET_USE`): real models often stop well short of the budget.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from .. import config
from . import knowledge
from .errors import invalid
from .tokens import tokenize

__all__ = ["MIN_BUDGET_TOKENS", "budget_tokens", "reasoning", "signature", "validate"]

MIN_BUDGET_TOKENS = 1024
"""The API's floor for `budget_tokens` (SDK docstring: "Must be >=1024 and less than
max_tokens")."""


def validate(body: dict[str, Any]) -> None:
    """Refuse what the real API refuses about `thinking` (400 invalid_request_error)."""
    for index, message in enumerate(body.get("messages") or []):
        blocks = message.get("content") if isinstance(message, dict) else None
        for b_index, block in enumerate(blocks if isinstance(blocks, list) else []):
            if (
                isinstance(block, dict)
                and block.get("type") == "thinking"
                and (
                    message.get("role") != "assistant"
                    or not isinstance(block.get("thinking"), str)
                    or not isinstance(block.get("signature"), str)
                )
            ):
                raise invalid(
                    f"messages.{index}.content.{b_index}: thinking blocks need thinking and "
                    "signature, in assistant turns"
                )
    thinking = body.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
        raise invalid("thinking: must be an object with type 'enabled' or 'disabled'")
    if thinking["type"] == "disabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise invalid("thinking.enabled.budget_tokens: Field required")
    if budget < MIN_BUDGET_TOKENS:
        raise invalid(
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to "
            f"{MIN_BUDGET_TOKENS}"
        )
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and budget >= max_tokens:
        raise invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    temperature = body.get("temperature")
    if temperature is not None and float(temperature) != 1.0:
        raise invalid("`temperature` may only be set to 1 when thinking is enabled")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise invalid("Thinking may not be enabled when tool_choice forces tool use.")


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
