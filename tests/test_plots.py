"""The shared plotting helpers draw what they say, on the axes they are given."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from stream_or_queue import config, plots
from stream_or_queue.streaming import StreamStats


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def stats(arrivals: list[float]) -> StreamStats:
    return StreamStats(
        model=config.LARGE_MODEL, max_tokens=100, arrivals=arrivals, pieces=["x"] * len(arrivals)
    )


def xdata(line: Line2D) -> list[float]:
    return list(np.asarray(line.get_xdata(), dtype=float).tolist())


def ydata(line: Line2D) -> list[float]:
    return list(np.asarray(line.get_ydata(), dtype=float).tolist())


def label(line: Line2D) -> str:
    return str(line.get_label())


def test_token_timeline_draws_one_step_line_per_stream_and_marks_ttft() -> None:
    _, ax = plt.subplots()
    result = plots.token_timeline(
        {"fast": stats([0.5, 0.6, 0.7]), "pairs": [(1.0, 1), (2.0, 2)]},
        ax=ax,
        all_at_once={"not streamed": (2.5, 3)},
    )
    assert result is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert "fast" in labels and "pairs" in labels and "not streamed" in labels
    fast = next(line for line in ax.get_lines() if line.get_label() == "fast")
    assert xdata(fast) == [0.0, 0.5, 0.6, 0.7]
    assert ydata(fast) == [0, 1, 2, 3]
    jump = next(line for line in ax.get_lines() if line.get_label() == "not streamed")
    assert xdata(jump) == [0.0, 2.5, 2.5] and ydata(jump) == [0, 0, 3]
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [(xdata(d)[0], ydata(d)[0]) for d in dots] == [(0.5, 1), (1.0, 1)]
    assert "simulated s" in ax.get_xlabel()


def test_token_timeline_skips_empty_streams() -> None:
    ax = plots.token_timeline({"nothing": stats([])})
    assert ax.get_lines() == []


def test_latency_histogram_marks_percentiles_and_budget() -> None:
    latencies = [0.1 * i for i in range(1, 21)]
    ax = plots.latency_histogram(latencies, budget_s=1.0)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["p50 = 1.00 s", "p95 = 1.90 s", "budget 1 s"]
    bars = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
    assert len(bars) == len(ax.patches)
    assert sum(bar.get_height() for bar in bars) == len(latencies)
    with pytest.raises(ValueError, match="at least one"):
        plots.latency_histogram([])


def test_generation_vs_reading_ends_when_the_reader_catches_up() -> None:
    stream = stats([1.0 + i / 100 for i in range(400)])  # 400 tokens in ~5 s
    ax = plots.generation_vs_reading(stream, reading_wpm=240.0, words_per_token=0.75)
    read = next(line for line in ax.get_lines() if label(line).startswith("read at"))
    # 300 words at 4 words/s, starting at the first token: done at 1 + 75 s
    assert xdata(read) == pytest.approx([1.0, 76.0])
    counted = plots.generation_vs_reading(stream, words=480, reading_wpm=240.0)
    read = next(line for line in counted.get_lines() if label(line).startswith("read at"))
    assert ydata(read) == pytest.approx([0.0, 480.0])
    with pytest.raises(ValueError):
        plots.generation_vs_reading(stats([]))
