"""The simulated edge: a held-open request is cut; start-then-poll is not."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx2
import pytest
import redis
from support import wait_until

from stream_or_queue import config
from stream_or_queue.research.schedule import record
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import EdgeTimeout, create_app, serve_in_thread
from stream_or_queue.web.clients import follow_events, poll_job
from stream_or_queue.web.server import RunningWeb

QUESTION = "Why do long agent requests fail behind a load balancer?"


@pytest.fixture
def web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    running = serve_in_thread(create_app(edge_timeout_s=20.0))  # an agent needs ~45-90 s
    yield running
    running.stop()


def _agents_in_requests() -> int:
    """Research agents running inside a request (`web.chat.run_in_request`'s threads)."""
    return sum(t.name == "soq-research-in-request" for t in threading.enumerate())


def test_a_held_open_request_gets_504_from_the_edge(web: RunningWeb, simulator: Simulator) -> None:
    with httpx2.Client(base_url=web.url, timeout=30) as http:
        response = http.post("/research/sync", json={"question": QUESTION})
        assert response.status_code == 504
        assert "20 simulated seconds" in response.json()["detail"]
        assert http.get("/healthz").status_code == 200  # short requests pass
        assert web.service.edge.cut_before_answer == 1
        # the agent behind the cut request stops at its next progress report (after at
        # most the model call in flight): spending stops too
        wait_until(lambda: _agents_in_requests() == 0, 30, "the cut agent to stop")
        cut_calls = len(simulator.ledger)
        # the same question as a job runs to the end: what the cut agent would have spent
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        assert poll_job(http, job_id, first_s=5.0).status == "finished"
    full_run_calls = len(simulator.ledger) - cut_calls
    assert 0 < cut_calls < full_run_calls


def test_a_stream_is_cut_mid_way_and_loses_its_answer(web: RunningWeb) -> None:
    received: list[str] = []
    with (
        httpx2.Client(base_url=web.url, timeout=30) as http,
        pytest.raises(httpx2.RemoteProtocolError),
        http.stream("GET", "/research/stream", params={"question": QUESTION}) as response,
    ):
        assert response.status_code == 200
        for event in httpx2.EventSource(response):
            received.append(event.event)
    assert "progress" in received and "done" not in received
    assert web.service.edge.cut_mid_stream == 1


def test_a_cut_stream_pays_for_the_model_calls_its_schedule_started(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    """What notebook 04 computes from a schedule (`Schedule.tokens_by`) is what a cut bills."""
    config.set_time_scale(0.1)
    plan = record(QUESTION, seed=1)  # the fixture's simulator has seed 1
    tool = next(s for s in plan.steps[2:] if s.kind == "tool" and s.duration_s >= 6)
    cut_s = tool.start_s + tool.duration_s / 2  # seconds from any model call
    with (
        serve_in_thread(create_app(edge_timeout_s=cut_s), worker=False) as web,
        httpx2.Client(base_url=web.url, timeout=30) as http,
        pytest.raises(httpx2.RemoteProtocolError),
        http.stream("GET", "/research/stream", params={"question": QUESTION}) as response,
    ):
        for _event in httpx2.EventSource(response):
            pass
    # the agent finishes the tool call it is in and starts nothing after it
    wait_until(lambda: _agents_in_requests() == 0, 30, "the cut agent to stop")
    billed = [r for r in simulator.ledger if r.endpoint == "POST /v1/messages"]
    started = [s for s in plan.steps if s.kind == "model" and s.start_s < cut_s]
    assert len(billed) == len(started) < sum(s.kind == "model" for s in plan.steps)
    assert sum(r.input_tokens for r in billed) == plan.tokens_by(cut_s)[0]


def test_the_same_work_as_a_job_is_never_cut(web: RunningWeb) -> None:
    with httpx2.Client(base_url=web.url, timeout=30) as http:
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        assert poll_job(http, job_id, first_s=5.0).status == "finished"
        # the event stream *is* cut (it is a long request too), and reattaches
        log = follow_events(http, job_id)
    assert log.status == "finished"
    assert web.service.edge.cut_before_answer == 0


def test_an_event_stream_cut_by_the_edge_reconnects_without_loss(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    with (
        serve_in_thread(create_app(edge_timeout_s=8.0)) as web,
        httpx2.Client(base_url=web.url, timeout=30) as http,
    ):
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        live = follow_events(http, job_id)
        replay = follow_events(http, job_id)
    assert live.status == "finished"
    assert live.connections > 1  # cut at least once on the way
    assert web.service.edge.cut_mid_stream >= live.connections - 1
    assert [e.id for e in live.events] == [e.id for e in replay.events]


def test_the_edge_refuses_a_non_positive_timeout() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        return None

    with pytest.raises(ValueError, match="positive"):
        EdgeTimeout(app, 0)
