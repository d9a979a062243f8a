"""Checks for lab 02: time a stream yourself, choose how to deliver, do the reader's maths."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import config
from ..choose import LONG_TASK_S
from ..simulator import default_simulator
from . import call_learner, expect, passed

__all__ = [
    "TASKS",
    "DeliveryTask",
    "check_choose_delivery",
    "check_stream_and_time",
    "check_unread_words",
    "expected_seconds",
]


@dataclass(frozen=True)
class DeliveryTask:
    """An AI feature to deliver: who waits for it, how long its answer is, which model."""

    name: str
    user_waiting: bool
    output_tokens: int
    model: str = config.LARGE_MODEL


def expected_seconds(task: DeliveryTask) -> float:
    """Worst-case simulated seconds to the whole answer: slowest first token + writing time."""
    profile = config.TIMING[config.canonical_model(task.model)]
    return profile.ttft_max_s + task.output_tokens / profile.tokens_per_s


TASKS: tuple[tuple[DeliveryTask, str], ...] = (
    (DeliveryTask("Approve or reject an expense", True, 8, config.FAST_MODEL), "sync"),
    (DeliveryTask("Chat answer to a support question", True, 300), "stream"),
    (DeliveryTask("Rewrite a paragraph in the editor", True, 180), "stream"),
    (DeliveryTask("Spam verdict on a comment", True, 3, config.FAST_MODEL), "sync"),
    (DeliveryTask("A 5,000-word report", True, 6_700), "async"),
    (DeliveryTask("Nightly product descriptions", False, 120, config.FAST_MODEL), "async"),
    (DeliveryTask("Summary email sent after a meeting", False, 400), "async"),
    (DeliveryTask("Code completion", True, 60, config.FAST_MODEL), "stream"),
)
"""Tasks whose right delivery follows from the rule in the lab."""


def check_stream_and_time(stream_and_time: Callable[[str], Mapping[str, Any]]) -> None:
    """`stream_and_time(question)` streams one answer and returns ttft_s, total_s and text."""
    ledger = default_simulator().ledger
    start = len(ledger)
    question = "Explain in detail why time to first token matters in a chat."
    result = call_learner(stream_and_time, question)
    expect(isinstance(result, Mapping),
           f"stream_and_time should return a dict with ttft_s, total_s and text; got {result!r}.")
    missing = {"ttft_s", "total_s", "text"} - set(result)
    expect(not missing, f"The result has no {sorted(missing)}: return "
           "{'ttft_s': ..., 'total_s': ..., 'text': ...}.")
    records = ledger[start:]
    expect(len(records) == 1, f"Expected one request, saw {len(records)}: stream one answer.")
    record = records[0]
    expect(record.stream, "The request was not streamed: use `llm.messages.stream(...)` "
           "(or `stream=True`) so you can see the first token arrive.")
    expect(record.completed, "The stream was not read to the end: keep reading until it finishes.")
    text, ttft, total = result["text"], result["ttft_s"], result["total_s"]
    expect(isinstance(text, str) and len(text.split()) > 10,
           "`text` should be the whole answer: join every piece of `stream.text_stream`.")
    expect(isinstance(ttft, int | float) and isinstance(total, int | float),
           "ttft_s and total_s should be numbers of simulated seconds.")
    expect(ttft >= 0.9 * record.scheduled_ttft_s,
           f"ttft_s = {ttft:.4f}, but the model's first token was scheduled at "
           f"{record.scheduled_ttft_s:.2f} simulated s. Start a `clock.Stopwatch()` just "
           "before the request and read `.elapsed` (simulated seconds, not real ones) when "
           "the first piece of text arrives.")
    expect(total >= 0.9 * record.scheduled_total_s,
           f"total_s = {total:.3f}, but the answer took {record.scheduled_total_s:.2f} "
           "simulated s: read `.elapsed` after the last piece of text.")
    expect(ttft < total, f"ttft_s ({ttft:.2f}) should be smaller than total_s ({total:.2f}): "
           "record the time of the *first* piece only once.")
    passed("stream_and_time() times the first token and the whole answer in simulated seconds "
           f"(the model's schedule: {record.scheduled_ttft_s:.2f} s and "
           f"{record.scheduled_total_s:.2f} s).")


def check_choose_delivery(choose_delivery: Callable[[DeliveryTask], str]) -> None:
    """`choose_delivery(task)` returns "sync", "stream" or "async" by the lab's rule."""
    for task, right in TASKS:
        got = call_learner(choose_delivery, task)
        expect(got in ("sync", "stream", "async"),
               f"choose_delivery({task.name!r}) returned {got!r}: return 'sync', 'stream' "
               "or 'async'.")
        seconds = expected_seconds(task)
        why = {
            "async": ("nobody is waiting for it" if not task.user_waiting else
                      f"it takes about {seconds:.0f} s, past the {LONG_TASK_S:g} s a user "
                      "will watch"),
            "sync": (f"the whole answer takes about {seconds:.2f} s, within the "
                     f"{config.SYNC_LATENCY_BUDGET_S:g} s budget: streaming adds nothing"),
            "stream": (f"someone is watching an answer of about {seconds:.1f} s: show the "
                       "first words early"),
        }[right]
        expect(got == right,
               f"choose_delivery({task.name!r}) returned {got!r}, expected {right!r}: {why}. "
               "Use `expected_seconds(task)` for the time.")
    passed(f"choose_delivery() picks the right delivery for all {len(TASKS)} tasks.")


def check_unread_words(unread_words: Callable[[int, float, float, float], float]) -> None:
    """`unread_words(words, ttft_s, total_s, reading_wpm)`: words not yet read at the end."""
    cases = [
        ((5_000, 1.0, 91.0, 240.0), 5_000 - 90 * 4),
        ((600, 1.0, 9.0, 240.0), 600 - 8 * 4),
        ((100, 1.0, 61.0, 240.0), 0.0),
    ]
    for args, right in cases:
        got = call_learner(unread_words, *args)
        expect(isinstance(got, int | float) and math.isclose(got, right, abs_tol=0.5),
               f"unread_words{args} returned {got!r}, expected {right:g}. The reader starts "
               "at the first token and reads reading_wpm / 60 words a second until the stream "
               "ends at total_s; what is left is unread (never below 0).")
    passed("unread_words(): a 5,000-word stream leaves 93% of the text unread when it ends.")
