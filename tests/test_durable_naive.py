"""The pipeline with no engine, under a real `kill -9`: orders lost, or paid and sent twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from durable_support import wait_for

from stream_or_queue.durable.ledger import ledger_counts, read_ledger
from stream_or_queue.durable.naive import run_orders

ORDERS = ["order-0", "order-1", "order-2"]


def test_an_uninterrupted_run_does_every_step_and_notifies_each_order_once(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    run_orders(ORDERS, 0.0, str(ledger))
    counts = ledger_counts(ledger)
    assert counts.steps_finished == 9 and counts.notifications == 3
    assert counts.finished_steps_redone == 0 and counts.duplicate_notifications == 0


@pytest.mark.serial  # a real process killed at a step: its waits are on the wall clock
def test_killed_it_loses_work_and_retried_from_the_top_it_redoes_and_notifies_twice(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    command = [sys.executable, "-m", "stream_or_queue.durable.naive", str(ledger)]
    command += ["--step-s", "0.3", *ORDERS]
    job = subprocess.Popen(command)
    try:
        wait_for(lambda: sum(r["kind"] == "end" for r in read_ledger(ledger)) >= 4, "4 steps")
    finally:
        job.kill()
        job.wait()
    killed = ledger_counts(ledger)
    assert 1 <= killed.notifications < len(ORDERS)  # the rest is lost unless someone retries
    subprocess.run(command, check=True)
    retried = ledger_counts(ledger)
    assert retried.notifications == len(ORDERS)
    assert retried.finished_steps_redone >= 3  # the first order's three steps, at least
    assert retried.duplicate_notifications == killed.notifications  # sent again, all of them
