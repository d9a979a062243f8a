"""The course pipeline on DBOS, in this process: idempotency, progress, pause and resume."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbos import DBOS, SetWorkflowID
from durable_support import finished_steps, sqlite_url, wait_for

from stream_or_queue.durable import engine
from stream_or_queue.durable.pipeline import (
    PROGRESS,
    STEPS,
    WorkflowIdConflict,
    apipeline,
    ledger_counts,
    pipeline,
    read_ledger,
    start_pipeline,
)


@pytest.fixture
def dbos_here(tmp_path: Path) -> Iterator[Path]:
    engine.launch(sqlite_url(tmp_path), executor_id="here")
    yield tmp_path / "ledger.jsonl"
    engine.shutdown()


def test_the_same_request_twice_runs_and_notifies_once(dbos_here: Path) -> None:
    ledger = str(dbos_here)
    first = start_pipeline("order-7", "report", 0.01, ledger)
    second = start_pipeline("order-7", "report", 0.01, ledger)
    assert first.get_result() == second.get_result()
    counts = ledger_counts(ledger)
    assert (counts.workflows, counts.steps_finished, counts.notifications) == (1, 3, 1)
    assert counts.duplicate_notifications == 0


def test_a_workflow_id_reused_with_other_arguments_is_refused(dbos_here: Path) -> None:
    ledger = str(dbos_here)
    start_pipeline("order-8", "report", 0.01, ledger).get_result()
    with pytest.raises(WorkflowIdConflict, match="order-8"):
        start_pipeline("order-8", "another report", 0.01, ledger)
    assert DBOS.retrieve_workflow("order-8").get_result()["item"] == "report"
    assert ledger_counts(ledger).workflows == 1


def test_progress_arrives_as_an_event_and_as_a_stream(dbos_here: Path) -> None:
    handle = start_pipeline("order-9", "report", 0.01, str(dbos_here))
    handle.get_result()
    assert DBOS.get_event("order-9", PROGRESS, timeout_seconds=5) == {
        "step": "done",
        "index": 3,
        "percent": 100,
    }
    events = list(DBOS.read_stream("order-9", PROGRESS))
    assert [e["step"] for e in events] == [*STEPS, "done"]
    assert [e["percent"] for e in events] == sorted(e["percent"] for e in events)


@pytest.mark.slow
def test_cancel_stops_between_steps_and_resume_finishes_without_redoing(dbos_here: Path) -> None:
    ledger = str(dbos_here)
    handle = start_pipeline("order-10", "report", 0.3, ledger)
    wait_for(lambda: finished_steps(dbos_here) >= 1, "the first step")
    DBOS.cancel_workflow("order-10")
    assert handle.get_status().status == "CANCELLED"
    paused = ledger_counts(ledger)
    assert paused.notifications == 0
    DBOS.resume_workflow("order-10").get_result()
    counts = ledger_counts(ledger)
    assert counts.steps_finished == len(STEPS)
    assert (counts.finished_steps_redone, counts.notifications) == (0, 1)


@DBOS.step()
def _keeps() -> str:
    return "kept"


@DBOS.step()
def _returns_a_lock() -> object:
    return threading.Lock()  # a lock cannot be stored (pickled)


@DBOS.workflow()
def _careless() -> object:
    _keeps()
    return _returns_a_lock()


def test_a_step_returning_something_unstorable_fails_and_keeps_finished_steps(
    dbos_here: Path,
) -> None:
    with SetWorkflowID("careless-1"), pytest.raises(TypeError, match="pickle"):
        _careless()
    status = DBOS.get_workflow_status("careless-1")
    assert status is not None and status.status == "ERROR"
    steps = DBOS.list_workflow_steps("careless-1")
    assert [s["output"] for s in steps if s["function_name"].endswith("_keeps")] == ["kept"]


def test_the_async_twin_runs_inside_an_event_loop(dbos_here: Path) -> None:
    async def main() -> dict[str, object]:
        with SetWorkflowID("order-11"):
            handle = await DBOS.start_workflow_async(apipeline, "report", 0.01, str(dbos_here))
        return await handle.get_result()

    assert asyncio.run(main())["results"] == ["fetch(report)", "analyse(report)", "write(report)"]
    assert ledger_counts(dbos_here).notifications == 1


def test_a_notebook_cell_launches_and_runs_on_its_event_loop(tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger.jsonl")

    async def cell() -> dict[str, object]:
        await engine.alaunch(sqlite_url(tmp_path), executor_id="kernel")
        with SetWorkflowID("cell-1"):
            handle = await DBOS.start_workflow_async(apipeline, "x", 0.01, ledger)
        return await handle.get_result()

    try:
        assert asyncio.run(cell())["item"] == "x"
    finally:
        engine.shutdown()
    assert ledger_counts(ledger).notifications == 1


@pytest.mark.slow
def test_the_course_queue_caps_concurrency_and_rate(dbos_here: Path) -> None:
    ledger = str(dbos_here)
    queue = engine.register_course_queue(worker_concurrency=1, limiter={"limit": 2, "period": 1.0})
    handles = [queue.enqueue(pipeline, f"q{i}", 0.05, ledger) for i in range(4)]
    assert [h.get_result()["item"] for h in handles] == ["q0", "q1", "q2", "q3"]
    rows = read_ledger(ledger)
    spans: dict[str, tuple[float, float]] = {}
    for row in rows:
        first, last = spans.get(row["wf"], (row["t"], row["t"]))
        spans[row["wf"]] = (min(first, row["t"]), max(last, row["t"]))
    ordered = sorted(spans.values())
    # One at a time: each workflow's first step starts after the previous one's notification.
    assert all(ordered[i][0] >= ordered[i - 1][1] for i in range(1, len(ordered)))
    # At most two starts per second, by DBOS's own record of when each left the queue.
    ids = [h.get_workflow_id() for h in handles]
    workflows = DBOS.list_workflows(workflow_ids=ids)
    dequeued = sorted(s.dequeued_at for s in workflows if s.dequeued_at is not None)
    assert len(dequeued) == len(ids)
    assert dequeued[2] - dequeued[0] >= 1000
