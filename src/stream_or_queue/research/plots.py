"""The worked example's figures: durations against the edge, outcomes, costs, the claims.

Each function draws on an `Axes` you pass (or a new figure) and returns it, like
`stream_or_queue.plots`. Times are simulated seconds; money is US dollars.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes

from .. import config
from ..plots import new_axes
from .compare import Lever, QuestionRun, Summary

__all__ = ["cost_bars", "duration_histogram", "levers_chart", "outcome_bars"]

_COLOURS = {"answered": "#4c9a5a", "timed out": "#c8553d", "abandoned": "#e0a030"}


def duration_histogram(
    runs: Sequence[QuestionRun],
    *,
    timeout_s: float = config.DEFAULT_EDGE_TIMEOUT_S,
    ax: Axes | None = None,
) -> Axes:
    """How long each v1 request stayed open, coloured by how it ended, with the edge's line."""
    ax = new_axes(ax)
    groups = {
        "answered": [r.longest_request_s for r in runs if r.delivered],
        "timed out": [r.longest_request_s for r in runs if r.timed_out],
        "abandoned": [r.longest_request_s for r in runs if r.abandoned and not r.timed_out],
    }
    bins = list(range(0, int(max([timeout_s, *(r.longest_request_s for r in runs)])) + 6, 5))
    ax.hist(
        [groups[k] for k in groups],
        bins=bins,
        stacked=True,
        color=[_COLOURS[k] for k in groups],
        label=[f"{k} ({len(v)})" for k, v in groups.items()],
    )
    ax.axvline(timeout_s, color="black", linestyle="--", linewidth=1)
    ax.annotate(
        f"edge limit {timeout_s:g} s",
        (timeout_s, ax.get_ylim()[1] * 0.92),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=8,
    )
    ax.set_xlabel("request held open (simulated s)")
    ax.set_ylabel("questions")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def outcome_bars(summaries: Sequence[Summary], *, ax: Axes | None = None) -> Axes:
    """Per version: share of questions answered, cut by the edge, abandoned by the user."""
    ax = new_axes(ax)
    names = [s.version for s in summaries]
    answered = [100 * s.completion_rate for s in summaries]
    cut = [100 * s.timeout_rate for s in summaries]
    left = [100 * s.abandonment_rate for s in summaries]
    ax.bar(names, answered, color=_COLOURS["answered"], label="answer reached the user")
    ax.bar(names, cut, bottom=answered, color=_COLOURS["timed out"], label="cut by the edge")
    ax.bar(
        names,
        left,
        bottom=[a + c for a, c in zip(answered, cut, strict=True)],
        color=_COLOURS["abandoned"],
        label="user left, never saw it",
    )
    for index, value in enumerate(answered):
        ax.text(index, value / 2, f"{value:.0f}%", ha="center", va="center", color="white")
    ax.set_ylabel("% of questions")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def cost_bars(summaries: Sequence[Summary], *, ax: Axes | None = None) -> Axes:
    """Cost per question asked and per answer delivered, with v1's cost less 30% marked."""
    ax = new_axes(ax)
    names = [s.version for s in summaries]
    per_question = [1000 * s.cost_per_question_usd for s in summaries]
    per_answer = [1000 * s.cost_per_answer_usd if s.completion_rate else 0.0 for s in summaries]
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], per_question, width=0.4, label="per question asked")
    ax.bar([p + 0.2 for p in positions], per_answer, width=0.4, label="per answer delivered")
    ax.axhline(0.7 * per_question[0], color="black", linestyle="--", linewidth=1)
    ax.annotate(
        "v1 per question - 30%",
        (len(names) - 0.6, 0.7 * per_question[0]),
        xytext=(0, 3),
        textcoords="offset points",
        fontsize=8,
        ha="right",
    )
    ax.set_xticks(list(positions), names)
    ax.set_ylabel("cost (US dollars x 1000)")
    ax.legend(fontsize=8)
    return ax


def levers_chart(levers: Sequence[Lever], *, ax: Axes | None = None) -> Axes:
    """Cost per question of each design, one lever added at a time."""
    ax = new_axes(ax, figsize=(7.0, 2.8))
    names = [lever.name for lever in levers][::-1]
    values = [1000 * lever.cost_per_question_usd for lever in levers][::-1]
    ax.barh(names, values, color="#5b7db1")
    for index, value in enumerate(values):
        ax.text(value, index, f" ${value / 1000:.4f}", va="center", fontsize=8)
    ax.set_xlabel("cost per question (US dollars x 1000)")
    ax.set_xlim(0, max(values) * 1.25)
    return ax
