"""Checks for lab 03: a stop that stops the model, a conversation with memory, its pace."""

from __future__ import annotations

import math
from collections.abc import Callable

from .. import config
from ..simulator import default_simulator
from . import call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "check_ask",
    "check_stop_early",
    "check_turn_seconds",
    "hint",
    "report",
    "turn_seconds",
]


def turn_seconds(wait_s: float, reply_words: int, question_words: int) -> float:
    """One conversation turn: wait for the reply, read it, type the next question."""
    return (
        wait_s
        + reply_words / config.READING_WORDS_PER_MINUTE * 60
        + question_words / config.TYPING_WORDS_PER_MINUTE * 60
    )


def check_stop_early(stop_early: Callable[[str, int], str]) -> None:
    """`stop_early(question, pieces)` streams, keeps `pieces` text pieces, closes upstream."""
    ledger = default_simulator().ledger
    start = len(ledger)
    question = "Write a 2,000-word essay on why a Stop button must stop the model."
    text = call_learner(stop_early, question, 30)
    records = ledger[start:]
    expect(len(records) == 1, f"Expected one request, saw {len(records)}: stream one answer.")
    record = records[0]
    expect(record.stream, "The request was not streamed: use `llm.messages.stream(...)`.")
    expect(
        isinstance(text, str) and text.strip(),
        f"stop_early should return the text received before the stop; got {text!r}.",
    )
    expect(
        not record.completed,
        "The answer ran to the end: stop reading after `pieces` pieces of text.",
    )
    expect(
        record.cancelled,
        "You stopped reading, but the simulator is still generating: the HTTP stream "
        "is open. Leave the `with llm.messages.stream(...) as stream:` block (e.g. "
        "`break` out of the loop inside it), or call `stream.close()`.",
    )
    expect(
        record.delivered_tokens <= 32,
        f"The simulator delivered {record.delivered_tokens} tokens for 30 pieces: stop "
        "right after the 30th piece.",
    )
    expect(
        record.generated_tokens < record.planned_output_tokens / 2,
        f"Generated {record.generated_tokens} of {record.planned_output_tokens} tokens: "
        "close the stream as soon as you stop.",
    )
    passed(
        f"Stopped after 30 pieces and closed the stream: the simulator stopped long before "
        f"the {record.planned_output_tokens:,} tokens it had planned."
    )


def check_ask(ask: Callable[[list[dict[str, str]], str], str]) -> None:
    """`ask(history, question)` sends the whole history and appends both turns to it."""
    ledger = default_simulator().ledger
    history: list[dict[str, str]] = []
    first = call_learner(ask, history, "What is time to first token?")
    expect(
        isinstance(first, str) and first,
        f"ask should return the assistant's reply as a string; got {first!r}.",
    )
    expect(
        history
        == [
            {"role": "user", "content": "What is time to first token?"},
            {"role": "assistant", "content": first},
        ],
        "After one question, history should hold two messages: "
        "{'role': 'user', 'content': question} and {'role': 'assistant', 'content': reply}, "
        f"in that order. It holds: {history!r}",
    )
    before = len(ledger)
    second = call_learner(ask, history, "How do I measure it in my own chat box?")
    roles = [m.get("role") for m in history]
    expect(
        roles == ["user", "assistant", "user", "assistant"],
        f"After two questions the roles should alternate user/assistant; got {roles}.",
    )
    expect(history[-1].get("content") == second, "The last message should be the new reply.")
    follow_up = ledger[before]
    fresh = call_learner(ask, [], "How do I measure it in my own chat box?")
    fresh_record = ledger[-1]
    expect(
        follow_up.input_tokens > fresh_record.input_tokens,
        "The follow-up request was no bigger than a fresh one: send the whole history "
        "(`messages=history + [new user message]`), not only the new question.",
    )
    expect(
        second != fresh,
        "The follow-up's answer does not depend on the conversation: send the history.",
    )
    passed(
        f"ask() keeps the conversation: the follow-up sent {follow_up.input_tokens} input "
        f"tokens (a fresh question: {fresh_record.input_tokens})."
    )


def check_turn_seconds(learner: Callable[[float, int, int], float]) -> None:
    """`learner(wait_s, reply_words, question_words)` matches `turn_seconds`."""
    cases = [(1.2, 120, 12), (30.0, 120, 12), (0.0, 238, 52), (5.0, 0, 0)]
    for args in cases:
        got = call_learner(learner, *args)
        right = turn_seconds(*args)
        expect(
            isinstance(got, int | float) and math.isclose(got, right, abs_tol=0.01),
            f"turn_seconds{args} returned {got!r}, expected {right:.2f}: wait_s, plus "
            "reply_words at config.READING_WORDS_PER_MINUTE, plus question_words at "
            "config.TYPING_WORDS_PER_MINUTE (both per minute: multiply by 60).",
        )
    fast, slow = learner(1.2, 120, 12), learner(config.SLOW_CHAT_REPLY_S, 120, 12)
    passed(
        f"A turn takes {fast:.0f} s when the reply starts after 1.2 s, {slow:.0f} s after "
        f"{config.SLOW_CHAT_REPLY_S:g} s: {300 / fast:.1f} vs {300 / slow:.1f} turns in "
        "five minutes."
    )


LAB = LabProgress(
    "lab03",
    {
        "stop_early": Help(
            hint="Keep what arrives until you have enough, then leave the `with` block: leaving it closes the stream, and only a closed stream tells the server to stop.",
            answer="kept = []\nwith llm.messages.stream(model=config.LARGE_MODEL, max_tokens=4000,\n        messages=[{'role': 'user', 'content': question}]) as stream:\n    for text in stream.text_stream:\n        kept.append(text)\n        if len(kept) >= pieces:\n            break\nreturn ''.join(kept)",
        ),
        "ask": Help(
            hint="The API remembers nothing between requests: send the history plus the new question, and add both the question and the reply to the history afterwards.",
            answer="messages = [*history, {'role': 'user', 'content': question}]\nreply = llm.messages.create(model=config.LARGE_MODEL, max_tokens=1000, messages=messages).content[0].text\nhistory.append({'role': 'user', 'content': question})\nhistory.append({'role': 'assistant', 'content': reply})\nreturn reply",
        ),
        "turn_seconds": Help(
            hint="A turn is three waits one after the other: the reply, reading it, typing the next question. Words per minute become seconds with a factor of 60.",
            answer="wait_s + reply_words / config.READING_WORDS_PER_MINUTE * 60 + question_words / config.TYPING_WORDS_PER_MINUTE * 60",
        ),
    },
)
check_stop_early = LAB.check(check_stop_early)
check_ask = LAB.check(check_ask)
check_turn_seconds = LAB.check(check_turn_seconds)
hint = LAB.hint
report = LAB.report
