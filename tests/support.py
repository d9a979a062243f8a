"""Helpers any test may use: one bounded wait (the free port is `serving.free_port`).

A plain module (not conftest) so that tests and helpers import it by name, and the type
checker sees the same module pytest runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

__all__ = ["wait_until"]


def wait_until(
    condition: Callable[[], object],
    timeout: float = 20.0,
    what: str = "condition",
    *,
    interval: float = 0.01,
) -> None:
    """Poll `condition()` until it is true; fail the test naming `what` after `timeout` s.

    A bounded wait for something that must happen, never a timed assertion: how long
    it took is not checked, only that it happened before the (generous) deadline.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
