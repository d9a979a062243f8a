"""Every test run is hermetic: the learner's shell cannot change what `make test` sees.

A learner who followed the README (`export REDIS_URL=...`, a key and live mode) and
then runs the tests in the same shell must get the same result as CI. So, before any
test or notebook kernel starts, the variables that switch the course to other services
or other clocks are removed from this process's environment; kernels (nbval), worker
processes and servers started by the tests inherit the clean environment. Tests that
need one of them set it themselves (monkeypatch), and the real Redis of the
integration tests comes only from the test-only `STREAM_OR_QUEUE_TEST_REDIS_URL`.

While the tests run, this process may open network connections to loopback addresses
only: an offline suite that reaches the internet is a bug, and it fails here by name.

This file lives at the repository root so that it covers `pytest tests` and
`pytest notebooks solutions --nbval` alike.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from stream_or_queue import config as course_config

LEARNER_VARIABLES = (
    "REDIS_URL",
    "DBOS_DATABASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "STREAM_OR_QUEUE_MODE",
    "STREAM_OR_QUEUE_TIME_SCALE",
    "STREAM_OR_QUEUE_LEARNER",  # shuffles the quick checks' options: nbval compares them
    "STREAM_OR_QUEUE_RESEARCH_VERSION",  # 09c asks a learner to try v3
    "STREAM_OR_QUEUE_SMTP_URL",
    "SOQ_RESEARCH_VERSION",  # the old names of those two, still read for one release
    "SOQ_SMTP_URL",
)
"""What a learner's shell may hold that would point the suite elsewhere."""

TEST_HUMAN_TIME_SCALE = "0.01"
"""What a person drives (a ChatBox...) plays in real time for a learner; the suite plays it
at the notebooks' default scale, so that nbval stays fast. Figures are in simulated seconds,
so outputs do not change; the browser tests that need real time set it back themselves.
Set here, not merely removed, so a learner's own value is replaced too."""


SHELL_HELD_ENV = "STREAM_OR_QUEUE_TEST_SHELL_HELD"
"""Names (never values) of the learner variables the run's shell held, comma-separated:
pytest-xdist workers start after they are removed, so they learn of them here."""


def shell_held() -> frozenset[str]:
    """Which of LEARNER_VARIABLES the shell that started this run held (and that were
    removed): CI sets all of them, so that its whole run is the hermeticity proof."""
    return frozenset(filter(None, os.environ.get(SHELL_HELD_ENV, "").split(",")))


def adopt_renamed_variables() -> list[str]:
    """Move the old SOQ_* names a shell still sets (read for one release) to their new
    STREAM_OR_QUEUE_* names, so that the suite, its kernels and workers read only new
    names (warnings are errors here). A new name already set wins. Returns "old -> new"."""
    moved = []
    for new, old in course_config.RENAMED_ENV.items():
        value = os.environ.pop(old, None)
        if value is not None:
            os.environ.setdefault(new, value)
            moved.append(f"{old} -> {new}")
    return moved


_MOVED = adopt_renamed_variables()  # now: tests/conftest.py reads some at import


def pytest_configure(config: pytest.Config) -> None:
    held = {name for name in LEARNER_VARIABLES if os.environ.pop(name, None) is not None}
    if held or SHELL_HELD_ENV not in os.environ:  # a worker keeps its controller's record
        os.environ[SHELL_HELD_ENV] = ",".join(sorted(held))
    if _MOVED:
        sys.stderr.write(
            f"renamed environment variables, read under their new names: {', '.join(_MOVED)}; "
            "set the new names (the old ones stop working in the next release)\n"
        )
    os.environ["STREAM_OR_QUEUE_HUMAN_TIME_SCALE"] = TEST_HUMAN_TIME_SCALE


class OffLoopbackConnection(AssertionError):
    """A test tried to reach beyond 127.0.0.1 / ::1."""


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like never leave the machine
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: resolving it is already reaching out


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """Refuse any connection of this process to a non-loopback address."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def refuse_off_loopback(sock: socket.SocketType, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            sock.close()  # callers only clean up after OSError, and this is not one
            raise OffLoopbackConnection(f"the offline test suite tried to connect to {address!r}")

    def guarded(sock: socket.SocketType, address: Any) -> None:
        refuse_off_loopback(sock, address)
        original_connect(sock, address)

    def guarded_ex(sock: socket.SocketType, address: Any) -> int:
        refuse_off_loopback(sock, address)
        return original_connect_ex(sock, address)

    socket.socket.connect = guarded  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
