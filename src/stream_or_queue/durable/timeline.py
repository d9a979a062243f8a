"""The audit trail as a timeline: one row per step, one bar per attempt, coloured by outcome.

Times are shown in simulated seconds since the first entry (wall-clock seconds
divided by the time scale), so the chart reads the same at any time scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import config
from .audit import AuditEvent, spans

__all__ = ["OUTCOME_COLOURS", "timeline"]

OUTCOME_COLOURS: dict[str, str] = {
    "done": "#2a9d8f",
    "skipped": "#bbbbbb",
    "failed": "#e76f51",
    "crashed": "#9b2226",
    "uncertain": "#f4a261",
}


def timeline(
    trails: Mapping[str, Iterable[AuditEvent]] | Iterable[AuditEvent],
    *,
    title: str = "Audit trail",
    ax: Any = None,
    time_scale: float | None = None,
) -> Any:
    """Draw a Gantt chart of one trail (or of several: {label: events}); returns the Axes.

    Skipped (checkpointed) steps are drawn as a thin grey tick at the moment they
    were skipped; a red bar is a step that was running when its worker died; the
    dashed vertical lines mark where a new attempt started.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not isinstance(trails, Mapping):
        trails = {"": trails}
    trails = {label: list(events) for label, events in trails.items()}
    scale = time_scale if time_scale is not None else config.time_scale()
    scale = scale or 1.0
    everything = [e for events in trails.values() for e in events]
    t0 = min((e.start for e in everything), default=0.0)
    if ax is None:
        rows = sum(len({s.name for s in spans(ev)}) for ev in trails.values())
        _, ax = plt.subplots(figsize=(9, 0.45 * max(rows, 2) + 1.2))
    labels: list[str] = []
    for label, events in trails.items():
        names: list[str] = []
        for span in spans(events):
            if span.name not in names:
                names.append(span.name)
        for span in spans(events):
            row = len(labels) + names.index(span.name)
            start = (span.start - t0) / scale
            width = max((span.end - span.start) / scale, 0.0)
            colour = OUTCOME_COLOURS.get(span.outcome, "#555555")
            height = 0.25 if span.outcome == "skipped" else 0.6
            ax.broken_barh([(start, max(width, 0.4))], (row - height / 2, height), color=colour)
            if span.outcome not in ("skipped",):
                ax.text(
                    start + max(width, 0.4) / 2,
                    row,
                    f"#{span.attempt}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white",
                )
        for event in events:
            if event.kind == "run" and event.outcome == "started" and event.attempt > 1:
                x = (event.start - t0) / scale
                ax.axvline(x, color="#444444", linestyle="--", linewidth=0.8)
        labels += [f"{label} {n}".strip() for n in names]
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_xlabel("time since the first entry (simulated s)")
    ax.set_title(title)
    ax.legend(
        handles=[Patch(color=c, label=o) for o, c in OUTCOME_COLOURS.items()],
        loc="lower right",
        fontsize=7,
        ncol=len(OUTCOME_COLOURS),
    )
    return ax
