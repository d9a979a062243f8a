"""Checks for lab 02: redraw a stream sensibly, choose how to deliver, do the reader's maths."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from .. import config
from ..choose import LONG_TASK_S
from . import call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "TASKS",
    "DeliveryTask",
    "arrivals",
    "check_choose_delivery",
    "check_render_times",
    "check_unread_words",
    "expected_seconds",
    "hint",
    "report",
    "show_renders",
    "try_naive",
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


def arrivals(output_tokens: int, model: str = config.LARGE_MODEL) -> list[float]:
    """When each token of an answer arrives (simulated s), by the model's timing profile."""
    profile = config.TIMING[config.canonical_model(model)]
    return [profile.ttft_max_s + i / profile.tokens_per_s for i in range(output_tokens)]


_RENDER_CASES: tuple[tuple[str, list[float]], ...] = (
    ("a fast stream (200 tokens/s for 1.5 s)", [0.4 + i / 200 for i in range(300)]),
    ("a slow trickle (a token every 0.5 s)", [1.0 + 0.5 * i for i in range(10)]),
    ("a burst, a pause, one last token", [0.5 + i / 500 for i in range(50)] + [2.0]),
    ("a single token", [0.8]),
)


def _render_problem(arrived: list[float], renders: list[float], interval: float) -> str | None:
    """What a list of render times gets wrong for these arrivals, or None."""
    if not arrived:
        return None if not renders else f"there are no tokens, yet it renders {len(renders)} times"
    if not renders:
        return "it never renders: the reader sees nothing"
    if any(b < a for a, b in pairwise(renders)):
        return "its render times go back in time: return them in order"
    for a, b in pairwise(renders):
        if b - a < interval - 1e-9:
            return (
                f"it renders at {a:.3f} s and again at {b:.3f} s, {b - a:.3f} s apart: "
                f"more often than one render per {interval:.3f} s ({len(renders)} renders "
                f"for {len(arrived)} tokens), which is the work a fast stream must save"
            )
    if renders[0] < arrived[0] - 1e-9:
        return f"it renders at {renders[0]:.3f} s, before the first token ({arrived[0]:.3f} s)"
    if renders[-1] < arrived[-1] - 1e-9:
        return (
            f"the last token arrives at {arrived[-1]:.3f} s but the last render is at "
            f"{renders[-1]:.3f} s: the end of the answer is never shown"
        )
    for t in arrived:
        shown = next((r for r in renders if r >= t - 1e-9), None)
        if shown is not None and shown - t > interval + 1e-9:
            return (
                f"the token that arrives at {t:.3f} s is first shown at {shown:.3f} s, "
                f"{shown - t:.3f} s later: a token may wait at most one interval "
                f"({interval:.3f} s), or the text lags behind the stream"
            )
    return None


def check_render_times(render_times: Callable[[list[float], float], list[float]]) -> None:
    """`render_times(arrivals, max_per_s)`: when to redraw the transcript of a stream."""
    max_per_s = 30.0
    interval = 1 / max_per_s
    for what, arrived in (*_RENDER_CASES, ("no tokens at all", [])):
        renders = call_learner(render_times, list(arrived), max_per_s)
        expect(
            isinstance(renders, list) and all(isinstance(r, int | float) for r in renders),
            f"render_times(...) should return a list of times in seconds; got {renders!r}.",
        )
        problem = _render_problem(arrived, [float(r) for r in renders], interval)
        expect(problem is None, f"For {what}, at most {max_per_s:g} renders a second: {problem}.")
    fast = call_learner(render_times, list(_RENDER_CASES[0][1]), max_per_s)
    passed(
        f"render_times() keeps to {max_per_s:g} renders a second without letting a token wait "
        f"(a 300-token burst: {len(fast)} renders instead of 300)."
    )


def show_renders(render_times: Callable[[list[float], float], list[float]]) -> None:
    """Try it: the renders of a 400-token answer of the large model, at 30 a second."""
    tokens = arrivals(400)
    renders = call_learner(render_times, tokens, 30.0)
    print(
        f"400 tokens from {tokens[0]:.2f} s to {tokens[-1]:.2f} s (simulated): "
        f"{len(renders)} renders"
    )


def check_choose_delivery(choose_delivery: Callable[[DeliveryTask], str]) -> None:
    """`choose_delivery(task)` returns "sync", "stream" or "async" by the lab's rule."""
    for task, right in TASKS:
        got = call_learner(choose_delivery, task)
        expect(
            got in ("sync", "stream", "async"),
            f"choose_delivery({task.name!r}) returned {got!r}: return 'sync', 'stream' or 'async'.",
        )
        seconds = expected_seconds(task)
        why = {
            "async": (
                "nobody is waiting for it"
                if not task.user_waiting
                else f"it takes about {seconds:.0f} s, past the {LONG_TASK_S:g} s a user will watch"
            ),
            "sync": (
                f"the whole answer takes about {seconds:.2f} s, within the "
                f"{config.SYNC_LATENCY_BUDGET_S:g} s budget: streaming adds nothing"
            ),
            "stream": (
                f"someone is watching an answer of about {seconds:.1f} s: show the "
                "first words early"
            ),
        }[right]
        expect(
            got == right,
            f"choose_delivery({task.name!r}) returned {got!r}, expected {right!r}: {why}.",
        )
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
        expect(
            isinstance(got, int | float) and math.isclose(got, right, abs_tol=0.5),
            f"unread_words{args} returned {got!r}, expected {right:g}. The reader starts "
            "at the first token and reads reading_wpm / 60 words a second until the stream "
            "ends at total_s; what is left is unread (never below 0).",
        )
    passed("unread_words(): a 5,000-word stream leaves 93% of the text unread when it ends.")


LAB = LabProgress(
    "lab02",
    {
        "render_times": Help(
            hint=(
                "Keep the time of the last render. A token that arrives at least one interval "
                "after it can be drawn at once; one that arrives sooner must wait for the "
                "interval to end, and one render then shows every token that waited."
            ),
            answer=(
                "interval = 1 / max_per_s\n"
                "renders = []\n"
                "for t in arrivals:\n"
                "    if not renders or t >= renders[-1] + interval:\n"
                "        renders.append(t)                    # draw now\n"
                "    elif renders[-1] < t:\n"
                "        renders.append(renders[-1] + interval)  # draw when allowed\n"
                "return renders"
            ),
        ),
        "choose_delivery": Help(
            hint=(
                "Ask the questions in the order that lets each one win: is anyone waiting at "
                "all? Does the whole answer fit the sync budget? Is it longer than a person "
                "will watch?"
            ),
            answer=(
                "if not task.user_waiting: return 'async'\n"
                "seconds = lab02.expected_seconds(task)\n"
                "if seconds <= config.SYNC_LATENCY_BUDGET_S: return 'sync'\n"
                "if seconds > LONG_TASK_S: return 'async'\n"
                "return 'stream'"
            ),
        ),
        "unread_words": Help(
            hint=(
                "The reader reads only while the stream runs after its first token: how many "
                "seconds is that, and how many words a second do they read?"
            ),
            answer="max(0, words - (total_s - ttft_s) * reading_wpm / 60)",
        ),
    },
)
check_render_times = LAB.check(check_render_times)
check_choose_delivery = LAB.check(check_choose_delivery)
check_unread_words = LAB.check(check_unread_words)
hint = LAB.hint
report = LAB.report


def try_naive(render_times: Callable[[list[float], float], list[float]]) -> None:
    """Show what `check_render_times` says about a version (the naive one), without a try."""
    LAB.demonstrate("render_times", render_times)
