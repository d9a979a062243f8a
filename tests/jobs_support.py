"""Fixtures shared by the job tests: the same test on fakeredis and on a real Redis.

`backend` switches the whole library the way a user does - by REDIS_URL - so a test
that passes on both shows that the code does not depend on which Redis it gets.
Import the fixtures into a test module: `from jobs_support import backend, no_leaked_threads`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from rq.job import Job

from stream_or_queue.jobs import get_redis, reset_fake_redis, stop_all_workers


@dataclass
class Backend:
    name: str  # "fake" or "real"
    connection: redis.Redis
    url: str | None

    @property
    def real(self) -> bool:
        return self.name == "real"


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


def wait_until(
    condition: Callable[[], object], timeout: float = 20.0, what: str = "condition"
) -> None:
    """Poll `condition()` until true (bounded); fail with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def failure_text(job: Job) -> str:
    """The traceback RQ stored with a failed job's latest result."""
    result = job.latest_result()
    assert result is not None and result.exc_string is not None, f"no failure stored for {job.id}"
    return result.exc_string
