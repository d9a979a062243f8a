"""The figures of notebook 07: three ways through one catalogue, and the 50% chart.

Each function takes plain numbers (so a learner can feed it their own) and
returns the matplotlib Figure. Durations are simulated and labelled so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["PathResult", "compare_paths", "cost_chart"]


@dataclass(frozen=True)
class PathResult:
    """One way of processing the catalogue, as measured (or extrapolated, and said so)."""

    name: str
    sim_seconds: float
    requests: int
    rate_limited: int
    failed: int  # reported as failed (to be retried by the next run)
    lost: int  # neither delivered nor reported: must be 0
    cost: float


def compare_paths(paths: Sequence[PathResult], *, title: str = "") -> Figure:
    """Wall time (log scale), requests and 429s, and items not delivered, side by side."""
    fig, (time_ax, req_ax, lost_ax) = plt.subplots(1, 3, figsize=(11.0, 3.4), layout="constrained")
    names = [p.name for p in paths]
    positions = range(len(paths))
    hours = [p.sim_seconds / 3600 for p in paths]
    time_ax.barh(names, hours, color="#4c72b0")
    time_ax.set_xscale("log")
    time_ax.set_xlabel("wall time (simulated hours, log scale)")
    time_ax.invert_yaxis()
    for y, h in enumerate(hours):
        label = f"{h:.1f} h" if h >= 1 else f"{h * 60:.0f} min"
        time_ax.text(h, y, f" {label}", va="center", fontsize=8)
    width = 0.4
    req_ax.bar(
        [x - width / 2 for x in positions],
        [p.requests for p in paths],
        width,
        label="requests",
        color="#4c72b0",
    )
    req_ax.bar(
        [x + width / 2 for x in positions],
        [p.rate_limited for p in paths],
        width,
        label="429 rate limited",
        color="#c44e52",
    )
    req_ax.set_xticks(list(positions), names, rotation=15, ha="right", fontsize=8)
    req_ax.set_ylabel("count")
    req_ax.legend(fontsize=8)
    lost_ax.bar(
        [x - width / 2 for x in positions],
        [p.failed for p in paths],
        width,
        label="failed (reported)",
        color="#dd8452",
    )
    lost_ax.bar(
        [x + width / 2 for x in positions],
        [p.lost for p in paths],
        width,
        label="lost",
        color="#c44e52",
    )
    lost_ax.set_ylim(0, max(1, *(max(p.failed, p.lost) for p in paths)) * 1.15)
    lost_ax.set_ylabel("items not delivered")
    lost_ax.set_xticks(list(positions), names, rotation=15, ha="right", fontsize=8)
    lost_ax.legend(fontsize=8)
    for x, p in zip(positions, paths, strict=True):
        lost_ax.text(x + width / 2, p.lost, str(p.lost), ha="center", va="bottom", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def cost_chart(standard: float, batch: float, *, items: int, model: str) -> Figure:
    """The same tokens at the standard price and at the batch price."""
    fig, ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
    bars = ax.bar(
        ["standard price", "batch price"], [standard, batch], color=["#4c72b0", "#55a868"]
    )
    for bar, dollars in zip(bars, (standard, batch), strict=True):
        ax.text(
            bar.get_x() + bar.get_width() / 2, dollars, f"${dollars:,.2f}", ha="center", va="bottom"
        )
    saved = 1 - batch / standard if standard else 0.0
    ax.set_ylabel("US dollars")
    ax.set_title(f"{items:,} descriptions on {model}: batch saves {saved:.0%}")
    ax.set_ylim(0, standard * 1.2 if standard else 1)
    return fig
