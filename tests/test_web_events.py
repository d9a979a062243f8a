"""Progress events over SSE: ids, replay from Last-Event-ID, reattaching after a cut."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
import redis
from rq.job import Job, JobStatus

from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.clients import afollow_events, event_data, follow_events
from stream_or_queue.web.server import RunningWeb

QUESTION = "How should a research agent report its progress?"


@pytest.fixture
def web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    running = serve_in_thread(create_app(edge_timeout_s=None))
    yield running
    running.stop()


def _finished_job(http: httpx2.Client) -> tuple[str, list[httpx2.ServerSentEvent]]:
    job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
    log = follow_events(http, job_id)
    assert log.status == "finished"
    return job_id, log.events


def test_events_are_structured_with_increasing_ids(web: RunningWeb) -> None:
    with httpx2.Client(base_url=web.url, timeout=30) as http:
        _job_id, events = _finished_job(http)
    steps = [event_data(e)["step"] for e in events]
    assert steps[0] == "queued" and steps[-1] == "finished"
    assert {"searching", "reading", "writing"} <= set(steps)
    assert [e.event for e in events[:-1]] == ["progress"] * (len(events) - 1)
    assert events[-1].event == "done" and event_data(events[-1])["result"]["answer"]
    ids = [tuple(map(int, e.id.split("-"))) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    percents = [event_data(e)["percent"] for e in events]
    assert all(0 <= p <= 100 for p in percents) and percents[-1] == 100
    assert events[0].retry is not None  # tells EventSource how soon to reconnect


def test_last_event_id_resumes_exactly_after_that_event(web: RunningWeb) -> None:
    with httpx2.Client(base_url=web.url, timeout=30) as http:
        job_id, events = _finished_job(http)
        for cut in (0, 3, len(events) - 2):
            with http.stream(
                "GET", f"/jobs/{job_id}/events", headers={"Last-Event-ID": events[cut].id}
            ) as response:
                rest = list(httpx2.EventSource(response))
            assert [e.id for e in rest] == [e.id for e in events[cut + 1 :]]
        with http.stream(
            "GET", f"/jobs/{job_id}/events", params={"after": events[2].id}
        ) as response:
            assert [e.id for e in httpx2.EventSource(response)] == [e.id for e in events[3:]]
        with http.stream(
            "GET", f"/jobs/{job_id}/events", headers={"Last-Event-ID": "not-an-id"}
        ) as response:
            assert len(list(httpx2.EventSource(response))) == len(events)  # replay all


def test_a_client_that_hangs_up_mid_job_reattaches_and_misses_nothing(web: RunningWeb) -> None:
    with httpx2.Client(base_url=web.url, timeout=30) as http:
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        first = follow_events(http, job_id, stop_after=3)
        assert first.status is None  # hung up while the job was still running
        second = follow_events(http, job_id, last_event_id=first.last_event_id)
        everything = follow_events(http, job_id)
    assert second.status == "finished"
    assert [e.id for e in first.events + second.events] == [e.id for e in everything.events]


def test_the_async_client_follows_the_same_stream(web: RunningWeb) -> None:
    import asyncio

    async def go() -> list[str]:
        async with httpx2.AsyncClient(base_url=web.url, timeout=30) as http:
            job_id = (await http.post("/jobs", json={"question": QUESTION})).json()["id"]
            log = await afollow_events(http, job_id)
            assert log.status == "finished"
            return log.steps

    steps = asyncio.run(go())
    assert steps[0] == "queued" and steps[-1] == "finished"


def test_a_job_whose_worker_died_still_ends_its_stream(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    with (
        serve_in_thread(create_app(edge_timeout_s=None), worker=False) as web,
        httpx2.Client(base_url=web.url, timeout=30) as http,
    ):
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        job = Job.fetch(job_id, connection=web.service.redis)
        job.set_status(JobStatus.FAILED)  # what RQ records for a job whose worker vanished
        log = follow_events(http, job_id)
        assert log.steps == ["queued", "failed"]
        assert http.get(f"/jobs/{job_id}").json()["status"] == "failed"
