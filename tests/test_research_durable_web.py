"""The DBOS research workflow behind the existing web API: start-then-poll and SSE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import redis
from dbos import DBOS
from durable_support import sqlite_url

from stream_or_queue.durable import engine
from stream_or_queue.research import durable as research
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web import jobs as web_jobs
from stream_or_queue.web.clients import follow_events, poll_job

QUESTION = "Why do long agent requests fail behind a load balancer?"


@pytest.fixture
def web_on_dbos(
    tmp_path: Path, simulator: Simulator, fake_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    engine.launch(sqlite_url(tmp_path), executor_id="web")
    monkeypatch.setattr(web_jobs, "run_research", research.run_research)  # the one-line hook
    running = serve_in_thread(create_app())
    yield running
    running.stop()
    engine.shutdown()


def test_a_web_job_runs_as_a_dbos_workflow_with_progress_and_permalink(
    web_on_dbos: object,
) -> None:
    with httpx2.Client(base_url=web_on_dbos.url, timeout=30) as http:  # type: ignore[attr-defined]
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        first = follow_events(http, job_id, stop_after=3)  # hang up mid-job...
        rest = follow_events(http, job_id, last_event_id=first.last_event_id)  # ...reattach
        outcome = poll_job(http, job_id, first_s=2.0)
        page = http.get(f"/r/{job_id}")
    steps = [e.json()["step"] for e in first.events + rest.events]  # type: ignore[index]
    assert steps[0] == "queued" and steps[-1] == "finished"
    assert {"searching", "reading", "writing"} <= set(steps)
    assert outcome.status == "finished" and outcome.view["result"]["sources"]
    assert page.status_code == 200
    status = DBOS.get_workflow_status(job_id)  # the workflow id is the job id
    assert status is not None and status.status == "SUCCESS"
    assert outcome.view["result"]["permalink"] == f"/r/{job_id}"
