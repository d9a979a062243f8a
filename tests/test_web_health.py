"""Health that tells the truth: /healthz, /readyz, and 503 (never a traceback) without a queue."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import pytest
import redis

from stream_or_queue.serving import free_port
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.server import RunningWeb

QUESTION = "Why do long agent requests fail behind a load balancer?"
FAKE_ID = "A" * 22


@pytest.fixture
def web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    running = serve_in_thread(create_app())
    yield running
    running.stop()


@pytest.fixture
def idle_web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    running = serve_in_thread(create_app(), worker=False)
    yield running
    running.stop()


@pytest.fixture
def no_queue(simulator: Simulator) -> Iterator[RunningWeb]:
    url = f"redis://127.0.0.1:{free_port()}/0"
    running = serve_in_thread(create_app(redis_url=url, edge_timeout_s=None), worker=False)
    yield running
    running.stop()


def test_ready_when_the_queue_answers_and_a_worker_beats(web: RunningWeb) -> None:
    with httpx2.Client(base_url=web.url, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "queue": "web", "workers": 1}


def test_not_ready_without_a_worker(idle_web: RunningWeb) -> None:
    with httpx2.Client(base_url=idle_web.url, timeout=10) as http:
        alive = http.get("/healthz")
        ready = http.get("/readyz")
    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "no worker on queue 'web'" in ready.json()["reason"]


@pytest.mark.slow
def test_an_unreachable_queue_gets_503_with_retry_after_and_one_log_line(
    no_queue: RunningWeb, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="stream_or_queue.web"),
        httpx2.Client(base_url=no_queue.url, timeout=10) as http,
    ):
        alive = http.get("/healthz")
        ready = http.get("/readyz")
        answers = [
            http.post("/jobs", json={"question": QUESTION}),
            http.get(f"/jobs/{FAKE_ID}"),
            http.get(f"/jobs/{FAKE_ID}/events"),
            http.get(f"/r/{FAKE_ID}"),
            http.post("/ask", data={"question": QUESTION}),
        ]
    assert alive.status_code == 200
    assert ready.status_code == 503 and "does not answer" in ready.json()["reason"]
    for answer in answers:
        assert answer.status_code == 503, answer.request.url
        assert answer.headers["content-type"] == "application/json"
        assert int(answer.headers["retry-after"]) > 0
        body = answer.json()
        assert "cannot be reached" in body["detail"]
        assert body["request_id"] == answer.headers["x-request-id"]
    records = [r for r in caplog.records if r.name == "stream_or_queue.web"]
    assert len(records) == len(answers)  # one line per request ...
    for record, answer in zip(records, answers, strict=True):
        assert answer.headers["x-request-id"] in record.getMessage()
        assert record.exc_info is None  # ... and no traceback
