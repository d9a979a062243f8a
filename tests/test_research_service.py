"""The measuring rig: v1's held-open chat behind the edge, and the job routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from stream_or_queue import config
from stream_or_queue.research import QUESTIONS, compare
from stream_or_queue.research.compare import deploy_chat, measure_chat, measurement_scale
from stream_or_queue.research.service import ResearchService, RunningService, serve_in_thread
from stream_or_queue.simulator import Simulator

pytestmark = pytest.mark.serial  # measures on the wall clock: runs alone (Makefile)


@pytest.fixture
def rig(fake_redis: Any, simulator: Simulator) -> Iterator[RunningService]:
    config.set_time_scale(0.01)
    running = serve_in_thread(ResearchService())
    yield running
    running.stop()


def test_fewer_agents_are_measured_faster_but_never_below_a_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compare, "probe_s", lambda: config.RESEARCH_PROBE_REFERENCE_S)
    full = measurement_scale(0.1, config.RESEARCH_SCALE_QUESTIONS)
    assert full == pytest.approx(0.1)
    assert measurement_scale(0.1, 30) == pytest.approx(0.05)
    assert measurement_scale(0.1, 3) == pytest.approx(0.1 * config.RESEARCH_SCALE_MIN_SHARE)
    assert measurement_scale(0.1, 600) == pytest.approx(0.1)  # more than sixty: not slower here
    monkeypatch.setattr(compare, "probe_s", lambda: 2 * config.RESEARCH_PROBE_REFERENCE_S)
    assert measurement_scale(0.1, 30) == pytest.approx(0.1)  # a slower machine slows the clock


def test_bad_input_gets_clear_errors(rig: RunningService) -> None:
    with httpx2.Client(base_url=rig.url) as http:
        empty = http.post("/chat", json={"question": "  "})
        assert empty.status_code == 422 and "empty" in empty.json()["detail"]
        assert http.post("/jobs", json={"question": "ok?", "version": "v9"}).status_code == 422
        assert http.get("/jobs/not-a-job").status_code == 404


def test_submitting_a_job_returns_at_once_with_an_id(rig: RunningService) -> None:
    with httpx2.Client(base_url=rig.url) as http:
        response = http.post("/jobs", json={"question": QUESTIONS[0]})
        assert response.status_code == 202
        job_id = response.json()["id"]
        assert response.headers["location"] == f"/jobs/{job_id}"
        assert http.get(f"/jobs/{job_id}").json()["status"] == "queued"  # no worker here


def test_the_edge_cuts_a_held_open_chat_and_the_work_is_lost(simulator: Simulator) -> None:
    runs = measure_chat(QUESTIONS[:3], timeout_s=20.0, patient=True, time_scale=0.02)
    assert all(r.timed_out and not r.delivered for r in runs)
    assert all(r.longest_request_s < 40.0 for r in runs)  # cut near 20 s, not run to the end
    assert sum(r.lost_tool_calls for r in runs) >= 1
    assert all(r.lost_cost_usd == r.cost_usd > 0 for r in runs)
    assert simulator.stats()["cancelled"] >= 1 or all(r.tool_calls for r in runs)


def test_without_an_edge_the_chat_answers(simulator: Simulator) -> None:
    runs = measure_chat(QUESTIONS[:2], timeout_s=1000.0, patient=True, time_scale=0.02)
    assert all(r.delivered and r.time_to_answer_s for r in runs)
    assert all(r.lost_tool_calls == 0 and r.tool_calls >= 5 for r in runs)


def test_a_deploy_kills_every_chat_in_flight(simulator: Simulator) -> None:
    outcome = deploy_chat(QUESTIONS[:4], at_s=30.0)
    assert outcome.in_flight == 4 and outcome.answered == 0
    assert outcome.tool_calls_lost >= 1 and outcome.cost_lost_usd > 0
