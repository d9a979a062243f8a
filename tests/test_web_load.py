"""A thousand event streams on the embedded default (fakeredis), with no error.

The service as a learner runs it: no REDIS_URL, the in-process worker thread, no
edge. Forty jobs, twenty-five streams on each, all open at once: more streams
than the Redis connection pool has connections, so most of them wait for one
(and share one subscription) instead of failing with "Too many connections".
The timings of this load are in `scripts/bench_web.py load`; here only the
outcome counts: every stream reads its job's events to the one terminal event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx2
import pytest
import redis

from stream_or_queue import config
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.server import RunningWeb

pytestmark = pytest.mark.slow

JOBS = 40
STREAMS_PER_JOB = 25


@pytest.fixture
def web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    config.set_time_scale(0.002)
    running = serve_in_thread(create_app(edge_timeout_s=None))
    yield running
    running.stop()


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def _load(url: str) -> tuple[list[list[str]], list[str]]:
    limits = httpx2.Limits(max_connections=JOBS * STREAMS_PER_JOB + 10)
    timeout = httpx2.Timeout(120, connect=60)
    async with httpx2.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:
        ids = []
        for n in range(JOBS):
            response = await http.post("/jobs", json={"question": f"Load question {n}?"})
            ids.append(response.json()["id"])

        async def follow(job_id: str) -> list[str]:
            kinds = []
            async with http.stream("GET", f"/jobs/{job_id}/events") as response:
                async for event in httpx2.EventSource(response):
                    kinds.append(event.event)
            return kinds

        streams = [follow(i) for i in ids for _ in range(STREAMS_PER_JOB)]
        outcomes = await asyncio.wait_for(asyncio.gather(*streams, return_exceptions=True), 300)
    failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    return [o for o in outcomes if isinstance(o, list)], failures


def test_a_thousand_streams_on_the_embedded_default(web: RunningWeb) -> None:
    errors = _Errors()
    for name in ("uvicorn.error", "stream_or_queue.web"):
        logging.getLogger(name).addHandler(errors)
    try:
        streams, failures = asyncio.run(_load(web.url))
    finally:
        for name in ("uvicorn.error", "stream_or_queue.web"):
            logging.getLogger(name).removeHandler(errors)
    assert failures == []
    assert len(streams) == JOBS * STREAMS_PER_JOB
    assert all(kinds.count("done") == 1 and kinds[-1] == "done" for kinds in streams)
    assert errors.messages == []
