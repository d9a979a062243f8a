"""Real DBOS worker processes killed with SIGKILL mid-workflow, on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from durable_support import finished_steps, sqlite_url, wait_for

from stream_or_queue.durable import engine
from stream_or_queue.durable.history import (
    most_at_once,
    most_started_within,
    run_spans,
    workflow_rows,
)
from stream_or_queue.durable.pipeline import STEPS, enqueue_pipeline, ledger_counts
from stream_or_queue.durable.worker import WorkerProcess, fork_onto, take_over

pytestmark = pytest.mark.slow


def test_a_killed_worker_restarts_and_finishes_without_redoing_a_finished_step(
    tmp_path: Path,
) -> None:
    url, ledger = sqlite_url(tmp_path), tmp_path / "ledger.jsonl"
    worker = WorkerProcess("w1", url).start()
    client = engine.client(url)
    try:
        ids = [f"job-{i}" for i in range(3)]
        for i, workflow_id in enumerate(ids):
            enqueue_pipeline(client, workflow_id, f"item-{i}", 0.3, str(ledger))
        wait_for(lambda: finished_steps(ledger) >= 2, "two finished steps")
        worker.kill()
        before = ledger_counts(ledger)
        assert before.notifications < len(ids)  # the kill really landed mid-work
        statuses = {s.workflow_id: s.status for s in client.list_workflows(workflow_ids=ids)}
        assert set(statuses.values()) <= {"PENDING", "ENQUEUED"}

        worker = WorkerProcess("w1", url).start()  # same executor id: recovers its work
        results: list[dict[str, Any]] = [client.retrieve_workflow(i).get_result() for i in ids]
        assert [r["item"] for r in results] == ["item-0", "item-1", "item-2"]
        after = ledger_counts(ledger)
        assert after.steps_finished == len(ids) * len(STEPS)
        assert after.finished_steps_redone == 0
        assert after.notifications == len(ids)
        # (not asserted: a repeated send - a kill between the send and its record - carries
        # the same key, the workflow id, and the count above is what a receiver keeps)
    finally:
        worker.kill()
        client.destroy()


def test_a_surviving_worker_takes_over_a_dead_executors_workflows(tmp_path: Path) -> None:
    url, ledger = sqlite_url(tmp_path), tmp_path / "ledger.jsonl"
    doomed = WorkerProcess("doomed", url).start()
    client = engine.client(url)
    survivor: WorkerProcess | None = None
    try:
        enqueue_pipeline(client, "job-x", "x", 0.3, str(ledger))
        wait_for(lambda: finished_steps(ledger) >= 1, "a finished step")
        doomed.kill()
        survivor = WorkerProcess("survivor", url).start(wait=False)  # boots meanwhile
        assert take_over(client, ["doomed"]) == ["job-x"]
        survivor.wait_ready()
        assert client.retrieve_workflow("job-x").get_result()["item"] == "x"
        counts = ledger_counts(ledger)
        assert (counts.finished_steps_redone, counts.notifications) == (0, 1)
        (status,) = client.list_workflows(workflow_ids=["job-x"])
        assert status.executor_id == "survivor"
        assert take_over(client, ["doomed"]) == []  # nothing left: a second call is harmless
    finally:
        doomed.kill()
        if survivor is not None:
            survivor.kill()
        client.destroy()


def test_a_deploy_that_changes_the_version_forks_in_flight_work_onto_the_new_code(
    tmp_path: Path,
) -> None:
    url, ledger = sqlite_url(tmp_path), tmp_path / "ledger.jsonl"
    old = WorkerProcess("w1", url, app_version="release-1").start()
    client = engine.client(url)
    new: WorkerProcess | None = None
    try:
        enqueue_pipeline(client, "job-d", "d", 0.3, str(ledger), app_version="release-1")
        wait_for(lambda: finished_steps(ledger) >= 1, "a finished step")
        old.kill()  # the deploy: the old code is gone, its workflow PENDING on release-1
        new = WorkerProcess("w1", url, app_version="release-2").start()
        (status,) = client.list_workflows(workflow_ids=["job-d"])
        assert (status.status, status.app_version) == ("PENDING", "release-1")

        forked = fork_onto(client, "job-d", "release-2")
        result: dict[str, Any] = client.retrieve_workflow(forked).get_result()
        assert result["results"] == ["fetch(d)", "analyse(d)", "write(d)"]
        assert client.list_workflows(workflow_ids=["job-d"])[0].status == "CANCELLED"
        counts = ledger_counts(ledger)
        assert (counts.finished_steps_redone, counts.notifications) == (0, 1)
    finally:
        old.kill()
        if new is not None:
            new.kill()
        client.destroy()


def test_a_running_worker_serves_queues_a_client_declares_within_their_limits(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    worker = WorkerProcess("w1", url).start()
    client = engine.client(url)
    try:  # declared after the worker started: it reads the queues from the record
        engine.register_queue("capped", worker_concurrency=2, client=client)
        engine.register_queue("limited", limiter={"limit": 2, "period": 1.0}, client=client)
        capped, limited = [f"capped-{i}" for i in range(6)], [f"limited-{i}" for i in range(5)]
        for queue, ids in (("capped", capped), ("limited", limited)):
            for i, workflow_id in enumerate(ids):
                enqueue_pipeline(client, workflow_id, f"item-{i}", 0.05, "", queue_name=queue)
        for workflow_id in capped + limited:
            client.retrieve_workflow(workflow_id).get_result(polling_interval_sec=0.05)
        assert most_at_once(run_spans(client, capped).values()) <= 2
        starts = [row.dequeued_ms for row in workflow_rows(client, workflow_ids=limited)]
        assert len(starts) == len(limited) and None not in starts
        assert most_started_within([s for s in starts if s is not None], 1.0) <= 2
        rows = workflow_rows(client, workflow_ids=capped + limited)
        assert {(row.executor_id, row.status) for row in rows} == {("w1", "SUCCESS")}
    finally:
        worker.kill()
        client.destroy()
