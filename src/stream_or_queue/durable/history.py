"""The audit trail, read from DBOS's own record of workflows and steps.

DBOS writes down every workflow (who ran it, on which executor and application
version, its status, input and output) and every step (its order, name, output or
error, start and end times) as part of running it. So the audit trail is not a
second log to keep in sync: it *is* the record recovery works from.
`workflow_rows` and `step_rows` turn it into plain rows (what a table or a page
shows); `draw_timeline` draws one workflow's steps as a Gantt chart. The same record
shows what a queue's limits did: `run_spans` (when each workflow's first step began
and its last ended), `queue_starts` (when each left its queue), `most_at_once` and
`most_started_within`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "StepRow",
    "WorkflowRow",
    "draw_timeline",
    "most_at_once",
    "most_started_within",
    "queue_starts",
    "run_spans",
    "step_rows",
    "workflow_rows",
]


@dataclass(frozen=True)
class WorkflowRow:
    workflow_id: str
    name: str
    status: str
    executor_id: str
    app_version: str
    forked_from: str | None
    created_ms: int
    updated_ms: int
    queue: str | None = None
    # When a worker took it off its queue: the time a queue's rate limit counts. DBOS
    # stamps it with the database's clock (whole seconds on SQLite under Python < 3.12).
    dequeued_ms: int | None = None


@dataclass(frozen=True)
class StepRow:
    index: int
    name: str
    start_ms: int
    end_ms: int
    ok: bool
    output: Any


def workflow_rows(record: Any, **filters: Any) -> list[WorkflowRow]:
    """Every workflow matching `filters` (DBOS's `list_workflows` keywords), oldest first.

    `record` is `DBOS` (the class, in a process running DBOS) or a `DBOSClient`.
    """
    return [
        WorkflowRow(
            workflow_id=s.workflow_id,
            name=s.name,
            status=str(s.status),
            executor_id=s.executor_id or "",
            app_version=s.app_version or "",
            forked_from=s.forked_from,
            created_ms=int(s.created_at or 0),
            updated_ms=int(s.updated_at or 0),
            queue=s.queue_name,
            dequeued_ms=None if s.dequeued_at is None else int(s.dequeued_at),
        )
        for s in record.list_workflows(load_input=False, **filters)
    ]


def step_rows(record: Any, workflow_id: str, *, steps_only: bool = True) -> list[StepRow]:
    """One workflow's steps in order; `steps_only` leaves out DBOS's own events and streams."""
    rows = []
    for step in record.list_workflow_steps(workflow_id):
        name = str(step["function_name"])
        if steps_only and name.startswith("DBOS."):
            continue
        rows.append(
            StepRow(
                index=int(step["function_id"]),
                name=name,
                start_ms=int(step["started_at_epoch_ms"] or 0),
                end_ms=int(step["completed_at_epoch_ms"] or 0),
                ok=step["error"] is None,
                output=step["output"],
            )
        )
    return rows


def run_spans(record: Any, workflow_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """For each workflow with steps: (first step's start, last step's end), epoch ms.

    Step times come from the process that ran the steps, to the millisecond; a
    workflow runs a little longer than its span (before its first step, after its last).
    """
    spans = {}
    for workflow_id in workflow_ids:
        rows = step_rows(record, workflow_id)
        if rows:
            spans[workflow_id] = (min(r.start_ms for r in rows), max(r.end_ms for r in rows))
    return spans


def queue_starts(record: Any, workflow_ids: Iterable[str]) -> list[int]:
    """When each workflow left its queue (epoch ms, DBOS's stamp that its limiter counts).

    Raises for a workflow that is unknown or never left a queue: a gap would hide a start.
    """
    wanted = list(workflow_ids)
    rows = {row.workflow_id: row for row in workflow_rows(record, workflow_ids=wanted)}
    missing = [w for w in wanted if w not in rows or rows[w].dequeued_ms is None]
    if missing:
        raise ValueError(f"{len(missing)} workflow(s) never left a queue: {missing[:3]}")
    return [int(rows[w].dequeued_ms or 0) for w in wanted]


def most_at_once(spans: Iterable[tuple[int, int]]) -> int:
    """The most (start, end) spans running at one instant; one ending as another starts is 1."""
    events = sorted(e for start, end in spans for e in ((start, 1), (end, -1)))
    running = most = 0
    for _, change in events:  # at equal times the end (-1) sorts first
        running += change
        most = max(most, running)
    return most


def most_started_within(starts_ms: Iterable[int], period_s: float) -> int:
    """The most starts inside any window of `period_s` seconds: what a queue's limiter caps.

    DBOS's limiter counts the starts after `now - period`, so a window is half-open:
    two starts exactly one period apart are in different windows.
    """
    ordered = sorted(starts_ms)
    period_ms = period_s * 1000
    most = first = 0
    for last, start in enumerate(ordered):
        while ordered[first] <= start - period_ms:
            first += 1
        most = max(most, last - first + 1)
    return most


def draw_timeline(rows: list[StepRow], *, title: str = "", ax: Any = None) -> Any:
    """A Gantt chart of steps (seconds since the first began); returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * max(len(rows), 1)))
    if not rows:
        ax.set_title(title or "no steps recorded")
        return ax
    origin = min(r.start_ms for r in rows)
    for y, row in enumerate(rows):
        start = (row.start_ms - origin) / 1000
        width = max((row.end_ms - row.start_ms) / 1000, 0.002)
        ax.barh(y, width, left=start, color="tab:green" if row.ok else "tab:red")
    ax.set_yticks(range(len(rows)), [f"{r.index}. {r.name}" for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first step began (real time)")
    ax.set_title(title)
    return ax
