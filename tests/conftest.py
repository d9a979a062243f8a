"""Shared fixtures: a fresh simulator, fakeredis and a real Redis, a browser path.

In CI (`SOQ_REQUIRE_SERVICES=1`) a missing Redis server or browser is a failure,
never a skip: a green run must mean every integration test ran.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_or_queue import config
from stream_or_queue.simulator import Simulator, reset_default_simulator

REQUIRE_SERVICES = os.environ.get("SOQ_REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parent.parent


def missing(what: str) -> None:
    """Skip on a developer machine without `what`; fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in CI (SOQ_REQUIRE_SERVICES=1)")
    pytest.skip(f"{what} is not available")


@pytest.fixture(autouse=True)
def _fast_time_scale() -> Iterator[None]:
    """Every test starts at the default time scale and leaves it so."""
    config.set_time_scale(None)
    yield
    config.set_time_scale(None)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A fresh, seeded simulator installed as the process default."""
    sim = reset_default_simulator(Simulator(seed=1))
    yield sim
    reset_default_simulator()


@pytest.fixture
def fake_redis() -> Iterator[object]:
    from stream_or_queue.jobs import get_redis, reset_fake_redis

    reset_fake_redis()
    yield get_redis()
    reset_fake_redis()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def real_redis_url() -> Iterator[str]:
    """A real Redis: SOQ_TEST_REDIS_URL (CI starts one), else a private redis-server."""
    url = os.environ.get("SOQ_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        missing("redis-server")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="soq-redis-")
    proc = subprocess.Popen(
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def real_redis(real_redis_url: str) -> Iterator[object]:
    """A connection to the real Redis, flushed before and after the test."""
    import redis

    conn = redis.Redis.from_url(real_redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        missing("Debian's chromium")
    return path


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
