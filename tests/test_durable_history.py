"""The audit trail read from DBOS's own record of workflows and steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from dbos import DBOS
from durable_support import sqlite_url

from stream_or_queue import config
from stream_or_queue.durable import engine
from stream_or_queue.durable.history import (
    draw_timeline,
    most_at_once,
    most_started_within,
    queue_starts,
    run_spans,
    step_rows,
    workflow_rows,
)
from stream_or_queue.durable.pipeline import pipeline, start_pipeline


@pytest.fixture
def dbos_here(tmp_path: Path) -> Iterator[None]:
    engine.launch(sqlite_url(tmp_path), executor_id="auditor")
    yield
    engine.shutdown()


def test_workflows_and_steps_come_from_the_engines_record(dbos_here: None) -> None:
    start_pipeline("audit-1", "x", 0.01).get_result()
    DBOS.cancel_workflow(start_pipeline("audit-2", "y", 0.5).get_workflow_id())
    rows = {r.workflow_id: r for r in workflow_rows(DBOS, name="pipeline")}
    assert rows["audit-1"].status == "SUCCESS" and rows["audit-2"].status == "CANCELLED"
    assert rows["audit-1"].executor_id == "auditor"
    assert rows["audit-1"].app_version == config.DURABLE_APP_VERSION
    steps = step_rows(DBOS, "audit-1")
    assert [s.name for s in steps] == ["work", "work", "work", "notify"]
    assert [s.output for s in steps[:3]] == ["fetch(x)", "analyse(x)", "write(x)"]
    assert all(s.ok and s.start_ms <= s.end_ms for s in steps)
    assert [s.index for s in steps] == sorted(s.index for s in steps)
    everything = step_rows(DBOS, "audit-1", steps_only=False)
    assert {"DBOS.setEvent", "DBOS.writeStream"} <= {s.name for s in everything}


def test_the_timeline_draws_one_bar_per_step(dbos_here: None) -> None:
    start_pipeline("audit-3", "z", 0.01).get_result()
    ax = draw_timeline(step_rows(DBOS, "audit-3"), title="audit-3")
    assert len(ax.patches) == 4
    assert next(t.get_text() for t in ax.get_yticklabels()).endswith("work")
    plt.close("all")
    empty = draw_timeline([], title="")
    assert empty.get_title() == "no steps recorded"
    plt.close("all")


def test_most_at_once_counts_overlaps_and_a_handover_is_not_one() -> None:
    assert most_at_once([]) == 0
    assert most_at_once([(0, 10), (10, 20), (20, 30)]) == 1  # each starts as the last ends
    assert most_at_once([(0, 10), (5, 15), (9, 30), (15, 40)]) == 3
    assert most_at_once([(0, 100), (10, 20), (30, 40), (50, 60)]) == 2


def test_most_started_within_uses_half_open_windows_like_the_limiter() -> None:
    assert most_started_within([], 1.0) == 0
    assert most_started_within([0, 1000, 2000, 3000], 1.0) == 1  # exactly a period apart
    assert most_started_within([0, 999, 1000, 1999], 1.0) == 2
    assert most_started_within([3000, 0, 2500, 2999, 100], 1.0) == 3  # order does not matter
    assert most_started_within([0, 400, 800], 0.5) == 2


@pytest.mark.slow
def test_spans_and_queue_starts_come_from_the_record(dbos_here: None) -> None:
    start_pipeline("audit-4", "w", 0.01).get_result()
    queue = engine.register_queue("audited", worker_concurrency=1)
    queued = queue.enqueue(pipeline, "v", 0.01, "")
    queued.get_result()
    spans = run_spans(DBOS, ["audit-4", queued.get_workflow_id(), "no-such-workflow"])
    assert set(spans) == {"audit-4", queued.get_workflow_id()}
    first, last = spans["audit-4"]
    steps = step_rows(DBOS, "audit-4")
    assert (first, last) == (steps[0].start_ms, steps[-1].end_ms) and first <= last
    rows = {r.workflow_id: r for r in workflow_rows(DBOS, name="pipeline")}
    assert rows["audit-4"].queue is None and rows["audit-4"].dequeued_ms is None
    row = rows[queued.get_workflow_id()]
    assert row.queue == "audited" and row.dequeued_ms is not None
    # The database's clock (whole seconds on SQLite before Python 3.12), the steps' is Python's.
    assert row.created_ms <= row.dequeued_ms <= spans[queued.get_workflow_id()][0]
    assert queue_starts(DBOS, [queued.get_workflow_id()]) == [row.dequeued_ms]
    with pytest.raises(ValueError, match="never left a queue"):
        queue_starts(DBOS, [queued.get_workflow_id(), "audit-4"])  # started directly
