"""Shared matplotlib helpers: the course's figures drawn one way everywhere.

Each helper draws on an `Axes` you pass (or a new figure) and returns the
`Axes`, so a notebook can add to it or put several side by side. Times are in
simulated seconds and the axis labels say so. Add a helper here when two
notebooks draw the same kind of figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from . import config

__all__ = [
    "generation_vs_reading",
    "latency_histogram",
    "new_axes",
    "token_timeline",
]

SIM_SECONDS = "time (simulated s)"


class HasTimeline(Protocol):
    """Anything with a token timeline, such as `streaming.StreamStats`."""

    def timeline(self) -> list[tuple[float, int]]: ...


Timeline = HasTimeline | Sequence[tuple[float, int]]


def new_axes(ax: Axes | None = None, *, figsize: tuple[float, float] = (7.0, 3.2)) -> Axes:
    """`ax` itself, or the axes of a new figure of `figsize` inches."""
    if ax is not None:
        return ax
    _, created = plt.subplots(figsize=figsize, layout="constrained")
    return created


def _points(series: Timeline) -> list[tuple[float, int]]:
    timeline = getattr(series, "timeline", None)
    points = timeline() if callable(timeline) else list(series)  # type: ignore[arg-type]
    return [(float(t), int(n)) for t, n in points]


def token_timeline(
    series: Mapping[str, Timeline],
    *,
    ax: Axes | None = None,
    title: str = "When each token arrived",
    mark_first_token: bool = True,
    all_at_once: Mapping[str, tuple[float, int]] | None = None,
) -> Axes:
    """Cumulative tokens received against time, one step line per labelled stream.

    A dot marks each stream's first token (its time to first token).
    `all_at_once` maps a label to `(seconds, tokens)` for answers that were not
    streamed: drawn dashed, as nothing until `seconds`, then every token at once.
    """
    axes = new_axes(ax)
    for label, data in series.items():
        points = _points(data)
        if not points:
            continue
        times = [0.0, *(t for t, _ in points)]
        counts = [0, *(n for _, n in points)]
        line = axes.step(times, counts, where="post", label=label)[0]
        if mark_first_token:
            first_t, first_n = points[0]
            axes.plot([first_t], [first_n], "o", color=line.get_color())
    for label, (done, total) in (all_at_once or {}).items():
        axes.step([0.0, done, done], [0, 0, total], where="post", linestyle="--", label=label)
    axes.set_xlabel(SIM_SECONDS)
    axes.set_ylabel("tokens received")
    axes.set_title(title)
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", fontsize="small")
    axes.grid(alpha=0.3)
    return axes


def latency_histogram(
    latencies: Sequence[float],
    *,
    ax: Axes | None = None,
    bins: int = 20,
    budget_s: float | None = None,
    percentiles: Iterable[float] = (50, 95),
    title: str = "Latency per call",
    label: str = "latency (simulated s)",
) -> Axes:
    """A histogram of latencies with percentile lines and, optionally, the budget line."""
    if not latencies:
        raise ValueError("latency_histogram needs at least one latency")
    from .streaming import percentile

    axes = new_axes(ax)
    axes.hist(latencies, bins=bins, color="#4c72b0", alpha=0.8, edgecolor="white")
    styles = [":", "--", "-."]
    for index, pct in enumerate(percentiles):
        value = percentile(latencies, pct)
        axes.axvline(
            value,
            color="black",
            linestyle=styles[index % len(styles)],
            label=f"p{pct:g} = {value:.2f} s",
        )
    if budget_s is not None:
        axes.axvline(budget_s, color="#c44e52", linewidth=2, label=f"budget {budget_s:g} s")
    axes.set_xlabel(label)
    axes.set_ylabel("calls")
    axes.set_title(title)
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    return axes


def generation_vs_reading(
    stream: Timeline,
    *,
    words: int | None = None,
    words_per_token: float = config.WORDS_PER_TOKEN,
    reading_wpm: float = config.READING_WORDS_PER_MINUTE,
    ax: Axes | None = None,
    title: str = "Words generated vs words a reader has read",
    **kwargs: Any,
) -> Axes:
    """How far ahead of the reader a stream runs: generated words vs read words over time.

    The reader starts at the first token and reads at `reading_wpm`; the line
    stops when the reader catches up with the last word - which for a long
    document is long after the stream ended. Tokens become words at
    `words_per_token`, or so that the stream ends at `words` if you counted them.
    """
    points = _points(stream)
    if not points:
        raise ValueError("the stream has no tokens to plot")
    if words is not None:
        words_per_token = words / points[-1][1]
    axes = new_axes(ax, **kwargs)
    times = [0.0, *(t for t, _ in points)]
    written = [0.0, *(n * words_per_token for _, n in points)]
    total_words = written[-1]
    start = points[0][0]
    per_s = reading_wpm / 60.0
    done_reading = start + total_words / per_s
    axes.step(times, written, where="post", label="generated (streamed)")
    axes.plot([start, done_reading], [0, total_words], label=f"read at {reading_wpm:g} words/min")
    axes.axvline(points[-1][0], color="grey", linestyle=":", label="stream ended")
    axes.set_xlabel(SIM_SECONDS)
    axes.set_ylabel("words")
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize="small")
    axes.grid(alpha=0.3)
    return axes
