"""Checks for lab 01: a sync decision with a fast model, its percentiles and its budget."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .. import config
from ..simulator import default_simulator
from . import call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "EXPENSES",
    "check_decide",
    "check_latency_budget",
    "check_percentiles",
    "hint",
    "report",
]

EXPENSES: tuple[tuple[str, str], ...] = (
    ("Taxi from the airport to the client's office, $32.00, receipt attached.", "APPROVE"),
    ("Wine for the client dinner (alcohol), $85.00, receipt attached.", "REJECT"),
    ("Conference ticket bought without pre-approval, $720.00, receipt attached.", "REJECT"),
    ("One night at the project hotel, $160.00, receipt attached.", "APPROVE"),
    ("Gift card for a supplier, $50.00.", "REJECT"),
)
"""Expenses whose right decision follows from the simulated reviewer's policy."""


def check_decide(decide: Callable[[str], str]) -> None:
    """`decide(expense)` returns exactly "APPROVE" or "REJECT", from one plain fast call."""
    ledger = default_simulator().ledger
    start = len(ledger)
    for expense, right in EXPENSES:
        got = call_learner(decide, expense)
        expect(
            got in ("APPROVE", "REJECT"),
            f"decide({expense!r}) returned {got!r}. Return only the decision word, "
            "'APPROVE' or 'REJECT': take the text of the answer and keep what comes before "
            "the colon (e.g. `text.split(':')[0].strip()`).",
        )
        expect(
            got == right,
            f"decide({expense!r}) returned {got!r}, but the reviewer's answer is {right!r}. "
            "Send the expense in the user message, with the words 'approve' and 'reject' "
            "in the prompt so the model knows the task.",
        )
    records = ledger[start:]
    expect(records, "No request reached the simulator: call `client().messages.create(...)`.")
    expect(
        len(records) == len(EXPENSES),
        f"{len(records)} requests for {len(EXPENSES)} expenses: make exactly one call per "
        "expense (no retries or extra calls of your own).",
    )
    models = {r.model for r in records}
    expect(
        models == {config.FAST_MODEL},
        f"The calls used {sorted(models)}. A sub-second decision needs the fast model: "
        "`model=config.FAST_MODEL`.",
    )
    expect(
        not any(r.stream for r in records),
        "The calls were streamed. A one-word decision gains nothing from streaming: "
        "use a plain `messages.create(...)` without `stream=True`.",
    )
    passed(f"decide() got all {len(EXPENSES)} decisions right with one plain fast call each.")


def check_percentiles(
    latency_percentiles: Callable[[Sequence[float]], tuple[float, float]],
) -> None:
    """`latency_percentiles(values)` returns (p50, p95) by the nearest-rank method."""
    values = [float(v) for v in range(1, 101)]
    got = call_learner(latency_percentiles, list(values))
    expect(
        isinstance(got, tuple) and len(got) == 2,
        f"latency_percentiles should return a tuple (p50, p95); it returned {got!r}.",
    )
    expect(
        got == (50.0, 95.0),
        f"For the values 1..100 expected (50.0, 95.0), got {got!r}. Nearest rank: sort the "
        "values, then take the one at position ceil(p/100 * n) counting from 1.",
    )
    shuffled = [0.9, 0.2, 0.5, 0.4, 0.3, 0.8, 0.1, 0.7, 0.6, 1.0]
    before = list(shuffled)
    got = call_learner(latency_percentiles, shuffled)
    expect(
        got == (0.5, 1.0),
        f"For ten unsorted latencies 0.1..1.0 expected (0.5, 1.0), got {got!r}: sort first.",
    )
    expect(
        shuffled == before,
        "latency_percentiles changed its input: sort a copy "
        "(`sorted(values)`), not the caller's list.",
    )
    got = call_learner(latency_percentiles, [0.42])
    expect(got == (0.42, 0.42), f"One latency is both its p50 and p95; got {got!r}.")
    passed("latency_percentiles() computes nearest-rank p50 and p95.")


def check_latency_budget(max_answer_tokens: Callable[[float, float, float, float], int]) -> None:
    """`max_answer_tokens(budget_s, ttft_s, tokens_per_s, overhead_s)`: tokens that still fit."""
    cases = [
        ((1.0, 0.5, 100.0, 0.1), 40),
        ((1.0, 0.7, 150.0, 0.1), 30),
        ((2.0, 0.3, 150.0, 0.2), 225),
        ((1.0, 0.3, 150.0, 0.05), 97),
        ((1.0, 1.2, 150.0, 0.0), 0),
    ]
    for args, right in cases:
        got = call_learner(max_answer_tokens, *args)
        expect(
            isinstance(got, int) and not isinstance(got, bool),
            f"max_answer_tokens{args} returned {got!r}: return a whole number of tokens (int).",
        )
        hint = (
            "latency = ttft_s + tokens / tokens_per_s + overhead_s must stay within budget_s, "
            "so tokens = floor((budget_s - ttft_s - overhead_s) * tokens_per_s), never below 0."
        )
        expect(got == right, f"max_answer_tokens{args} returned {got}, expected {right}: {hint}")
    profile = config.TIMING[config.FAST_MODEL]
    fit = call_learner(
        max_answer_tokens,
        config.SYNC_LATENCY_BUDGET_S,
        profile.ttft_max_s,
        profile.tokens_per_s,
        0.1,
    )
    expect(
        fit == math.floor((1.0 - 0.7 - 0.1) * 150.0),
        f"With the fast model's profile the answer should be 30 tokens, got {fit}.",
    )
    passed(f"max_answer_tokens(): with the fast model, a sub-second answer can be {fit} tokens.")


LAB = LabProgress(
    "lab01",
    {
        "decide": Help(
            hint=(
                "One plain `messages.create` to the fast model, a small max_tokens, a system "
                "prompt that asks for APPROVE or REJECT first; return only that word."
            ),
            answer=(
                "message = llm.messages.create(model=config.FAST_MODEL, max_tokens=20,\n"
                "    system='Approve or reject the employee expense: answer APPROVE or "
                "REJECT, a colon, and a short reason.',\n"
                "    messages=[{'role': 'user', 'content': f'Expense: {expense}'}])\n"
                "return message.content[0].text.split(':')[0].strip()"
            ),
        ),
        "percentiles": Help(
            hint=(
                "Sort a copy. Nearest rank counts from 1: the p-th percentile of n values is "
                "the one at rank ceil(p / 100 * n); Python lists count from 0."
            ),
            answer=(
                "ordered = sorted(values)\n"
                "rank = lambda p: ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]\n"
                "return rank(50), rank(95)"
            ),
        ),
        "latency_budget": Help(
            hint=(
                "A plain call takes the first token's time, plus the answer's tokens at the "
                "model's speed, plus the overhead. Solve for the tokens and round down."
            ),
            answer="max(0, math.floor((budget_s - ttft_s - overhead_s) * tokens_per_s))",
        ),
    },
)
check_decide = LAB.check(check_decide)
check_percentiles = LAB.check(check_percentiles)
check_latency_budget = LAB.check(check_latency_budget)
hint = LAB.hint
report = LAB.report
