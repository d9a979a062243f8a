"""Helpers for the DBOS tests: a private SQLite record, waiting on the ledger."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from stream_or_queue.durable.pipeline import read_ledger


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'dbos.sqlite'}"


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll until `predicate()`; a bounded wait, never a timed assertion."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def finished_steps(ledger: Path) -> int:
    return sum(1 for row in read_ledger(ledger) if row["kind"] == "end")
