"""Helpers for the DBOS tests: a private SQLite record, waiting on the ledger."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from support import wait_until

from stream_or_queue.durable.pipeline import read_ledger


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'dbos.sqlite'}"


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """`support.wait_until` in the argument order the DBOS tests use."""
    wait_until(predicate, timeout_s, what, interval=0.02)


def finished_steps(ledger: Path) -> int:
    return sum(1 for row in read_ledger(ledger) if row["kind"] == "end")
