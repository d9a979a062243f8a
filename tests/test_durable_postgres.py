"""Scale-out: three DBOS worker processes share one Postgres; kill -9 one, deploy them all."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dbos import DBOSClient
from durable_support import finished_steps, wait_for

from stream_or_queue.durable import engine
from stream_or_queue.durable.pipeline import STEPS, enqueue_pipeline, ledger_counts, read_ledger
from stream_or_queue.durable.worker import WorkerProcess, take_over

pytestmark = pytest.mark.slow

_database = itertools.count()


@pytest.fixture
def fresh_url(postgres_url: str) -> Iterator[str]:
    """A new database on the shared server for each test, so their records never mix."""
    name = f"scale_{next(_database)}_{Path(postgres_url).name}"
    admin = sa.create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield postgres_url.rsplit("/", 1)[0] + "/" + name


def _fleet(url: str, tmp_path: Path) -> list[WorkerProcess]:
    return [WorkerProcess(f"w{i}", url, cwd=str(tmp_path)).start() for i in range(3)]


def _finish(client: DBOSClient, ids: list[str]) -> list[dict[str, object]]:
    return [client.retrieve_workflow(i).get_result(polling_interval_sec=0.05) for i in ids]


def test_one_of_three_workers_killed_its_work_is_taken_over_by_the_others(
    fresh_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    workers = _fleet(fresh_url, tmp_path)
    client = engine.client(fresh_url)
    try:
        ids = [f"job-{i}" for i in range(9)]
        for i, workflow_id in enumerate(ids):
            enqueue_pipeline(client, workflow_id, f"item-{i}", 0.3, str(ledger))
        wait_for(lambda: finished_steps(ledger) >= 3, "three finished steps")
        busy = {row["pid"] for row in read_ledger(ledger)}
        victim = next(w for w in workers if w.pid in busy)
        victim.kill()
        survivors = [w for w in workers if w is not victim]

        taken = take_over(client, [victim.executor_id])
        assert taken  # the victim really had work in flight
        results = _finish(client, ids)
        assert [r["item"] for r in results] == [f"item-{i}" for i in range(9)]
        counts = ledger_counts(ledger)
        assert counts.steps_finished == len(ids) * len(STEPS)
        assert (counts.finished_steps_redone, counts.notifications) == (0, len(ids))
        # (not asserted: a repeated send - a stop between the send and its record - carries
        # the same key, the workflow id, and the count above is what a receiver keeps)
        executors = {s.executor_id for s in client.list_workflows(workflow_ids=taken)}
        assert executors <= {w.executor_id for w in survivors}
    finally:
        for worker in workers:
            worker.kill()
        client.destroy()


def test_a_full_deploy_with_work_in_flight_loses_nothing_and_redoes_nothing(
    fresh_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    workers = _fleet(fresh_url, tmp_path)
    client = engine.client(fresh_url)
    try:
        ids = [f"job-{i}" for i in range(9)]
        for i, workflow_id in enumerate(ids):
            enqueue_pipeline(client, workflow_id, f"item-{i}", 0.3, str(ledger))
        wait_for(lambda: finished_steps(ledger) >= 3, "three finished steps")
        for worker in workers:  # the old release stops (SIGTERM) with work in flight
            worker.stop()
        assert ledger_counts(ledger).notifications < len(ids)
        # The new release: same executor ids, same pinned version: each recovers its own.
        workers = _fleet(fresh_url, tmp_path)
        results = _finish(client, ids)
        assert len(results) == len(ids)
        counts = ledger_counts(ledger)
        assert counts.steps_finished == len(ids) * len(STEPS)
        assert (counts.finished_steps_redone, counts.notifications) == (0, len(ids))
        # (not asserted: a repeated send - a stop between the send and its record - carries
        # the same key, the workflow id, and the count above is what a receiver keeps)
    finally:
        for worker in workers:
            worker.kill()
        client.destroy()
