"""The clients of start-then-poll, and the same clients as arithmetic over a job's schedule.

Notebook 06 counts polls and SSE connections with `poll_moments` and
`sse_connections`; the real clients, run against the real service, must agree.
"""

from __future__ import annotations

import math

import httpx2
import pytest
import redis
from rq import get_current_job

from stream_or_queue import clock, config
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, events, serve_in_thread
from stream_or_queue.web.api import WEB_SSE_RETRY_MS
from stream_or_queue.web.clients import follow_events, poll_job, poll_moments, sse_connections


def working_job(question: str) -> dict[str, object]:
    """A web job that works `question` simulated seconds, reporting every 10 s, and answers.

    Its end is known exactly, so the clients' arithmetic can be checked against
    the real clients (the schedule of a research job gives its end the same way).
    """
    job = get_current_job()
    assert job is not None
    seconds = float(question)
    for done in range(0, math.ceil(seconds), 10):
        events.publish(job.connection, job.id, "working", 100 * done / seconds, "working")
        clock.sleep(min(10.0, seconds - done))
    result: dict[str, object] = {"text": f"worked {seconds:g} s", "sources": []}
    events.publish_terminal(
        job.connection, job.id, "finished", "The answer is ready", result=result
    )
    return result


def test_polls_back_off_until_the_first_one_after_the_end() -> None:
    assert poll_moments(22.0, first_s=1.0, factor=2.0, max_s=15.0) == [0, 1, 3, 7, 15, 30]
    assert poll_moments(15.0, first_s=1.0, factor=2.0, max_s=15.0) == [0, 1, 3, 7, 15]
    assert poll_moments(0.0) == [0.0]
    assert poll_moments(3.5, first_s=1.0, factor=1.0, max_s=1.0) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="ends_at_s"):
        poll_moments(-1.0)


def test_an_sse_client_reconnects_after_each_cut_and_misses_no_end() -> None:
    alone = sse_connections(130.0)
    assert (alone.connections, alone.noticed_at_s, alone.open_s) == (1, 130.0, 130.0)
    cut = sse_connections(130.0, edge_s=60.0, retry_s=0.5)
    assert (cut.connections, cut.cuts) == (3, 2)
    assert cut.noticed_at_s == 130.0 and cut.open_s == pytest.approx(60 + 60 + 9)
    # the job ends while the client is away: it learns it as soon as it is back
    away = sse_connections(60.2, edge_s=60.0, retry_s=0.5)
    assert (away.connections, away.noticed_at_s, away.open_s) == (2, 60.5, 60.0)
    with pytest.raises(ValueError, match="edge_s"):
        sse_connections(10.0, edge_s=0.0)


@pytest.mark.slow
def test_the_real_polling_client_polls_as_computed(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    config.set_time_scale(0.05)  # 30 simulated s in 1.5 s; the end lies 7 s from any poll
    with (
        serve_in_thread(create_app(job=working_job, edge_timeout_s=None)) as web,
        httpx2.Client(base_url=web.url, timeout=30) as http,
    ):
        job_id = http.post("/jobs", json={"question": "22"}).json()["id"]
        outcome = poll_job(http, job_id, first_s=1.0, factor=2.0, max_s=15.0)
    assert outcome.status == "finished"
    assert outcome.polls == len(poll_moments(22.0, first_s=1.0, factor=2.0, max_s=15.0)) == 6


@pytest.mark.slow
def test_the_real_event_client_reconnects_as_computed(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    config.set_time_scale(0.02)
    planned = sse_connections(75.0, edge_s=50.0, retry_s=WEB_SSE_RETRY_MS / 1000)
    with (
        serve_in_thread(create_app(job=working_job, edge_timeout_s=50.0)) as web,
        httpx2.Client(base_url=web.url, timeout=30) as http,
    ):
        live = follow_events(http, http.post("/jobs", json={"question": "75"}).json()["id"])
        assert web.service.edge.cut_mid_stream == planned.cuts == 1  # 25 s from either side
    assert live.status == "finished"
    assert live.connections == planned.connections
