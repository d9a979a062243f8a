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
from stream_or_queue.durable.history import draw_timeline, step_rows, workflow_rows
from stream_or_queue.durable.pipeline import start_pipeline


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
