"""Shared fixtures: a fresh simulator, fakeredis and a real Redis, a browser path.

In CI (`STREAM_OR_QUEUE_REQUIRE_SERVICES=1`) a missing Redis server or browser is a failure,
never a skip: a green run must mean every integration test ran.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from jobs_support import Backend
from services_support import missing

from stream_or_queue import config
from stream_or_queue.jobs import get_redis, reset_fake_redis, stop_all_workers
from stream_or_queue.simulator import Simulator, reset_default_simulator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fast_time_scale() -> Iterator[None]:
    """Every test starts at the default time scale and leaves it so."""
    config.set_time_scale(None)
    yield
    config.set_time_scale(None)


@pytest.fixture(autouse=True)
def _dbos_record_off_the_repository(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """DBOS's default SQLite record (used by code that launches it on its own, like the
    web job, here and in the worker processes a test starts) goes to a private folder per
    test, never the repository; an engine a test left running is stopped after it."""
    monkeypatch.setenv(config.DURABLE_SQLITE_DIR_ENV, str(tmp_path_factory.mktemp("dbos")))
    yield
    engine = sys.modules.get("stream_or_queue.durable.engine")
    if engine is not None and engine.is_launched():
        engine.shutdown()


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A fresh, seeded simulator installed as the process default."""
    sim = reset_default_simulator(Simulator(seed=1))
    yield sim
    reset_default_simulator()


@pytest.fixture
def fake_redis() -> Iterator[redis.Redis]:
    reset_fake_redis()
    yield get_redis()
    reset_fake_redis()


# --- the job tests: the same test on fakeredis and on a real Redis -------------------------------
# `backend` switches the whole library the way a user does - by REDIS_URL - so a test that
# passes on both shows that the code does not depend on which Redis it gets.


@pytest.fixture(
    params=["fake", pytest.param("real", marks=pytest.mark.real_redis)],
)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """fakeredis (REDIS_URL unset) or the test Redis (REDIS_URL set), flushed around the test."""
    if request.param == "fake":
        monkeypatch.delenv("REDIS_URL", raising=False)
        reset_fake_redis()
        yield Backend("fake", get_redis(), None)
        stop_all_workers()
        reset_fake_redis()
        return
    url = request.getfixturevalue("real_redis_url")
    monkeypatch.setenv("REDIS_URL", url)
    connection = get_redis()
    connection.flushdb()
    yield Backend("real", connection, url)
    stop_all_workers()
    connection.flushdb()
    connection.connection_pool.disconnect()  # no socket left for the garbage collector


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fail the test if it leaves a thread behind (a worker, a refresher, a server)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 10
    while True:
        leaked = [t for t in set(threading.enumerate()) - before if t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    described = [(t.name, type(t).__name__, getattr(t, "_target", None)) for t in leaked]
    assert not leaked, f"threads left running: {described}"


def _worker_database(url: str) -> str:
    """The same Redis, one database per pytest-xdist worker (tests flush their database)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... or unset
    if not worker.startswith("gw"):
        return url
    parts = urllib.parse.urlsplit(url)
    database = 1 + int(worker[2:])  # database 0 stays the serial run's
    return urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def real_redis_url() -> Iterator[str]:
    """A real Redis: STREAM_OR_QUEUE_TEST_REDIS_URL (CI starts one), else a private
    redis-server."""
    url = config.env("STREAM_OR_QUEUE_TEST_REDIS_URL")
    if url:
        yield _worker_database(url)
        return
    from stream_or_queue.jobs.redis_server import private_redis_server

    if shutil.which("redis-server") is None:
        missing("redis-server")
    with private_redis_server() as private_url:
        yield private_url


@pytest.fixture
def real_redis(real_redis_url: str) -> Iterator[redis.Redis]:
    """A connection to the real Redis, flushed before and after the test."""
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


@pytest.fixture(scope="session")
def course_lab(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Any]:
    """One JupyterLab for every browser test of the run (starting one takes 5-15 s),
    serving a copy of notebooks/, labs/ and solutions/ with private settings.
    Tests put any notebook of their own in `course_lab.root`."""
    from browser import copy_notebooks, jupyter_lab

    root = copy_notebooks(tmp_path_factory.mktemp("course"), "notebooks", "labs", "solutions")
    with jupyter_lab(root) as server:
        yield server


@pytest.fixture
def lab_page(chromium_path: str, course_lab: Any) -> Iterator[Any]:
    """A fresh chromium page; after the test every kernel of `course_lab` is shut down."""
    from browser import chromium_page, shut_down_kernels

    try:
        with chromium_page(chromium_path) as page:
            yield page
    finally:
        shut_down_kernels(course_lab)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL: STREAM_OR_QUEUE_TEST_POSTGRES_URL, else a private cluster on a
    free port."""
    url = config.env("STREAM_OR_QUEUE_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    from stream_or_queue.durable.postgres_server import find_pg_bin, private_postgres_server

    if find_pg_bin() is None:
        missing("PostgreSQL (initdb, pg_ctl)")
    with private_postgres_server() as private_url:
        yield private_url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run in the serial phase, never beside the two-worker phase: beside
    its tests a notebook run in JupyterLab timed out (03 and 05 in CI, once each). In the
    serial phase (two workers, `--dist loadgroup`, Makefile) they form one group, so one
    worker runs them all, one after another with the one JupyterLab (`course_lab`), while
    the other worker takes the real-process tests; the group is listed first, so that
    its worker starts on it and the shorter tests fill in around it. (The real-process
    tests pass with both cores kept busy by a CPU burner: scripts/stress_real_redis.py.)"""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.serial)
            item.add_marker(pytest.mark.xdist_group("browser"))
    items.sort(key=lambda item: item.get_closest_marker("browser") is None)
