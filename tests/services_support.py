"""What the tests need from the machine: a missing service skips locally and fails in CI.

A plain module (not conftest) so that tests and helpers import it by name, and the type
checker sees the same module pytest runs.
"""

from __future__ import annotations

import pytest

from stream_or_queue import config

__all__ = ["CHROMIUM_ARGS", "REQUIRE_SERVICES", "missing"]

REQUIRE_SERVICES = config.env("STREAM_OR_QUEUE_REQUIRE_SERVICES") == "1"


def missing(what: str) -> None:
    """Skip on a developer machine without `what`; fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in CI (STREAM_OR_QUEUE_REQUIRE_SERVICES=1)")
    pytest.skip(f"{what} is not available")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
