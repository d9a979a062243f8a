"""Small parts of the web service: backoff, the CLI, the event store."""

from __future__ import annotations

import subprocess
import sys
from itertools import islice

import httpx2
import pytest
import redis

from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, events, serve_in_thread
from stream_or_queue.web.clients import backoff_delays, poll_job


def test_backoff_doubles_up_to_its_cap_and_refuses_nonsense() -> None:
    assert list(islice(backoff_delays(1.0, 2.0, 15.0), 7)) == [1, 2, 4, 8, 15, 15, 15]
    assert list(islice(backoff_delays(2.0, 1.0, 2.0), 3)) == [2, 2, 2]
    for bad in ((0.0, 2.0, 5.0), (1.0, 0.5, 5.0), (5.0, 2.0, 1.0)):
        with pytest.raises(ValueError):
            next(backoff_delays(*bad))


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


@pytest.mark.slow
def test_the_command_line_binds_loopback_by_default() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stream_or_queue.web", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "default 127.0.0.1" in result.stdout and "--edge-timeout" in result.stdout
