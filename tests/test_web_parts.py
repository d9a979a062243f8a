"""Small parts of the web service: backoff, the traffic meter, the CLI, the event store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from itertools import islice

import httpx2
import pytest
import redis
from starlette.types import Message, Scope
from support import wait_until

from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, events, serve_in_thread
from stream_or_queue.web.clients import backoff_delays, poll_job
from stream_or_queue.web.metrics import TrafficMeter, route_kind


def test_backoff_doubles_up_to_its_cap_and_refuses_nonsense() -> None:
    assert list(islice(backoff_delays(1.0, 2.0, 15.0), 7)) == [1, 2, 4, 8, 15, 15, 15]
    assert list(islice(backoff_delays(2.0, 1.0, 2.0), 3)) == [2, 2, 2]
    for bad in ((0.0, 2.0, 5.0), (1.0, 0.5, 5.0), (5.0, 2.0, 1.0)):
        with pytest.raises(ValueError):
            next(backoff_delays(*bad))


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/jobs/abc/events", "events"),
        ("GET", "/jobs/abc", "status"),
        ("DELETE", "/jobs/abc", "cancel"),
        ("POST", "/jobs", "submit"),
        ("GET", "/chat", "chat"),
        ("POST", "/research/sync", "sync"),
        ("GET", "/r/abc", "page"),
        ("GET", "/", "page"),
        ("GET", "/static/app.js", "other"),
    ],
)
def test_route_kinds(method: str, path: str, kind: str) -> None:
    assert route_kind(method, path) == kind


def test_the_meter_counts_requests_bytes_and_open_time(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    with (
        serve_in_thread(create_app(edge_timeout_s=None), worker=False) as web,
        httpx2.Client(base_url=web.url, timeout=30) as http,
    ):
        job_id = http.post("/jobs", json={"question": "How are requests counted?"}).json()["id"]
        web.service.traffic.reset()
        bodies = [http.get(f"/jobs/{job_id}") for _ in range(3)]
        # the meter closes a request just after its last byte
        wait_until(
            lambda: not web.service.traffic.snapshot()["all"].open_now, 10, "no open request"
        )
        snapshot = web.service.traffic.snapshot()
    status = snapshot["status"]
    assert status.requests == 3 and status.open_now == 0 and status.peak_open >= 1
    assert status.bytes_out > sum(len(b.content) for b in bodies)  # bodies plus headers
    assert status.open_seconds > 0
    assert snapshot["all"].requests == 3


def test_a_reset_forgets_responses_still_open_from_before() -> None:
    release = asyncio.Event()

    async def slow_app(scope: object, receive: object, send: object) -> None:
        await release.wait()

    meter = TrafficMeter(slow_app)

    async def scenario() -> None:
        async def receive() -> Message:
            return {}

        async def send(message: Message) -> None:
            pass

        scope: Scope = {"type": "http", "method": "POST", "path": "/jobs"}
        request = asyncio.create_task(meter(scope, receive, send))
        await asyncio.sleep(0)
        assert meter.snapshot()["all"].open_now == 1
        meter.reset()
        release.set()
        await request

    asyncio.run(scenario())
    # Before the fix the old request's close drove the fresh count to -1.
    assert meter.snapshot()["all"].open_now == 0 and meter.snapshot()["all"].requests == 0


def test_publish_terminal_writes_once_and_read_events_resumes(fake_redis: redis.Redis) -> None:
    conn = fake_redis
    first = events.publish(conn, "job-x", "searching", 10.4, "looking")
    assert events.valid_event_id(first) and not events.valid_event_id("1-x")
    assert events.publish_terminal(conn, "job-x", "finished", "done")
    assert not events.publish_terminal(conn, "job-x", "canceled", "late")
    stored = events.read_events(conn, "job-x")
    assert [e.step for e in stored] == ["searching", "finished"]
    assert stored[0].percent == 10 and stored[-1].terminal
    assert events.read_events(conn, "job-x", after=first) == stored[1:]
    with pytest.raises(ValueError):
        events.publish_terminal(conn, "job-x", "done", "not terminal")


def test_polling_gives_up_after_its_time_limit(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    with (
        serve_in_thread(create_app(edge_timeout_s=None), worker=False) as web,
        httpx2.Client(base_url=web.url, timeout=30) as http,
    ):
        job_id = http.post("/jobs", json={"question": "Will anyone run me?"}).json()["id"]
        with pytest.raises(TimeoutError, match="still queued"):
            poll_job(http, job_id, first_s=5.0, timeout_s=20.0)


def test_the_command_line_binds_loopback_by_default() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stream_or_queue.web", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "default 127.0.0.1" in result.stdout and "--edge-timeout" in result.stdout
