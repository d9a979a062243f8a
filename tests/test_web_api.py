"""The web service's JSON API and pages: start-then-poll, validation, access, escaping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx2
import pytest
import redis
from support import wait_until

from stream_or_queue import config
from stream_or_queue.jobs import get_queue
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web import events as web_events
from stream_or_queue.web.clients import event_data, follow_events, poll_job
from stream_or_queue.web.server import RunningWeb

QUESTION = "Why do long agent requests fail behind a load balancer?"


@pytest.fixture
def web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    running = serve_in_thread(create_app())
    yield running
    running.stop()


@pytest.fixture
def idle_web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    """The service with no worker: jobs stay queued."""
    running = serve_in_thread(create_app(), worker=False)
    yield running
    running.stop()


def _client(running: RunningWeb) -> httpx2.Client:
    return httpx2.Client(base_url=running.url, timeout=30)


def test_post_jobs_answers_202_with_location_and_an_unguessable_id(idle_web: RunningWeb) -> None:
    with _client(idle_web) as http:
        first = http.post("/jobs", json={"question": QUESTION})
        second = http.post("/jobs", json={"question": QUESTION})
    assert first.status_code == 202
    body = first.json()
    assert first.headers["location"] == f"/jobs/{body['id']}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", body["id"])
    assert body["id"] != second.json()["id"]
    assert body["status"] == "queued"
    assert body["progress"]["step"] == "queued"
    assert body["result"] is None


def test_a_job_runs_to_a_finished_result_with_sources(web: RunningWeb) -> None:
    with _client(web) as http:
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        outcome = poll_job(http, job_id, first_s=2.0)
        too_late = http.delete(f"/jobs/{job_id}")
    assert too_late.status_code == 409 and "finished" in too_late.json()["detail"]
    assert outcome.status == "finished"
    view = outcome.view
    assert view["question"] == QUESTION
    assert view["progress"]["percent"] == 100
    result = view["result"]
    assert len([p for p in result["answer"].split("\n\n") if p.strip()]) == 4
    assert result["sources"] and all(re.fullmatch(r"doc-\d+", s["id"]) for s in result["sources"])
    assert view["links"] == {
        "self": f"/jobs/{job_id}",
        "events": f"/jobs/{job_id}/events",
        "page": f"/r/{job_id}",
    }


def test_jobs_cannot_be_listed_and_unknown_or_malformed_ids_are_404(idle_web: RunningWeb) -> None:
    with _client(idle_web) as http:
        http.post("/jobs", json={"question": QUESTION})
        assert http.get("/jobs").status_code == 405  # no listing endpoint
        for bad in ("A" * 22, "short", "x" * 300, "..%2F..%2Fetc", "%3Cscript%3E"):
            assert http.get(f"/jobs/{bad}").status_code == 404, bad
            assert http.get(f"/jobs/{bad}/events").status_code == 404, bad
            assert http.delete(f"/jobs/{bad}").status_code == 404, bad
            page = http.get(f"/r/{bad}")
            assert page.status_code == 404
            if "%2F" not in bad:
                assert "No such answer" in page.text


def test_other_rq_jobs_are_not_visible_through_the_web(idle_web: RunningWeb) -> None:
    queue = get_queue(config.WEB_QUEUE)
    foreign = queue.enqueue(len, "abc", job_id="B" * 22)
    with _client(idle_web) as http:
        assert http.get(f"/jobs/{foreign.id}").status_code == 404
        assert http.delete(f"/jobs/{foreign.id}").status_code == 404


@pytest.mark.parametrize("question", ["", "   \n ", "x" * (config.WEB_QUESTION_MAX_CHARS + 1)])
def test_empty_or_oversized_questions_are_422_with_a_clear_message(
    idle_web: RunningWeb, question: str
) -> None:
    with _client(idle_web) as http:
        for response in (
            http.post("/jobs", json={"question": question}),
            http.post("/chat", json={"question": question}),
            http.post("/research/sync", json={"question": question}),
            http.get("/chat", params={"question": question}),
        ):
            assert response.status_code == 422
            message = response.json()["message"]
            assert ("empty" in message) or (f"limit is {config.WEB_QUESTION_MAX_CHARS}" in message)
            assert "x" * 100 not in response.text  # the input is not echoed back
        form = http.post("/ask", data={"question": question})
    assert form.status_code == 422
    assert 'role="alert"' in form.text


def test_malformed_bodies_are_422_and_huge_bodies_413(idle_web: RunningWeb) -> None:
    with _client(idle_web) as http:
        assert http.post("/jobs", json={}).status_code == 422
        assert http.post("/jobs", json={"question": 42}).status_code == 422
        assert (
            http.post(
                "/jobs", content=b"{not json", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )
        huge = http.post(
            "/jobs",
            content=b"x" * (config.WEB_MAX_BODY_BYTES + 1),
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 413


def test_html_is_escaped_in_the_question_and_the_answer(idle_web: RunningWeb) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with _client(idle_web) as http:
        job_id = http.post("/jobs", json={"question": f"{attack} why?"}).json()["id"]
        working = http.get(f"/r/{job_id}")
        web_events.publish_terminal(
            idle_web.service.redis,
            job_id,
            "finished",
            "done",
            result={
                "answer": f"First {attack}\n\nSecond",
                "sources": [{"id": "doc-1", "title": attack}],
            },
        )
        done = http.get(f"/r/{job_id}")
    for page in (working, done):
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "Your answer" in done.text and done.text.count("&lt;img src=x") == 3


def test_the_ask_form_redirects_to_the_permalink(idle_web: RunningWeb) -> None:
    with _client(idle_web) as http:
        response = http.post("/ask", data={"question": QUESTION})
        assert response.status_code == 303
        location = response.headers["location"]
        assert re.fullmatch(r"/r/[A-Za-z0-9_-]{22}", location)
        page = http.get(location)
    assert "We&#39;re working on it" in page.text or "We're working on it" in page.text
    assert QUESTION in page.text


def test_cancel_a_queued_job(idle_web: RunningWeb) -> None:
    with _client(idle_web) as http:
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        response = http.delete(f"/jobs/{job_id}")
        assert response.status_code == 200 and response.json()["status"] == "canceled"
        assert http.get(f"/jobs/{job_id}").json()["status"] == "canceled"
        assert http.delete(f"/jobs/{job_id}").json()["status"] == "canceled"  # idempotent
        log = follow_events(http, job_id)
    assert log.steps == ["queued", "canceled"] and log.status == "canceled"
    assert len(get_queue(config.WEB_QUEUE)) == 0  # RQ dropped it from the queue


def test_cancel_a_started_job_stops_its_spending(web: RunningWeb, simulator: Simulator) -> None:
    with _client(web) as http:
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        follow_events(http, job_id, stop_after=3)  # queued, planning, searching: it runs
        assert http.delete(f"/jobs/{job_id}").json()["status"] == "canceled"
        log = follow_events(http, job_id)
        assert log.status == "canceled" and "finished" not in log.steps
        # RQ records the end once the job function has returned: it calls the model no more
        wait_until(
            lambda: web.service.redis.hget(f"rq:job:{job_id}", "status") in (b"failed", b"stopped"),
            10,
            "the cancelled job to stop",
        )
        cancelled_calls = len(simulator.ledger)
        assert http.get(f"/jobs/{job_id}").json()["status"] == "canceled"
        # the worker is free for the next job: the same question, run to the end
        other = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        assert poll_job(http, other, first_s=2.0).status == "finished"
    full_run_calls = len(simulator.ledger) - cancelled_calls
    assert 0 < cancelled_calls < full_run_calls, "the cancelled job stopped spending part-way"


def test_chat_streams_tokens_and_finishes(simulator: Simulator, fake_redis: redis.Redis) -> None:
    # no edge: its 60 simulated seconds are 0.6 real s here, which a loaded CI core can outlast
    with (
        serve_in_thread(create_app(edge_timeout_s=None), worker=False) as web,
        _client(web) as http,
        http.stream("GET", "/chat", params={"question": "What is a job queue?"}) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(httpx2.EventSource(response))
    tokens = [e for e in events if e.event == "token"]
    assert len(tokens) > 5
    assert events[-1].event == "done"
    assert event_data(events[-1])["output_tokens"] == len(tokens)


def test_chat_with_a_thinking_budget_streams_the_thinking_first(
    simulator: Simulator, fake_redis: redis.Redis
) -> None:
    # no edge: a thousand thinking events at time scale 0.01 could outlast its 60 s
    with (
        serve_in_thread(create_app(edge_timeout_s=None), worker=False) as web,
        _client(web) as http,
    ):
        refused = http.get("/chat", params={"question": "hi", "thinking": 100})
        too_big = http.get("/chat", params={"question": "hi", "thinking": 10**6})
        params: dict[str, str | int] = {"question": "What is a job queue?", "thinking": 1024}
        with http.stream("GET", "/chat", params=params) as response:
            events = list(httpx2.EventSource(response))
    assert refused.status_code == too_big.status_code == 422
    kinds = [e.event for e in events]
    first_token = kinds.index("token")
    assert set(kinds[:first_token]) == {"thinking"} and "thinking" not in kinds[first_token:]
    record = next(r for r in simulator.ledger if r.endpoint == "POST /v1/messages")
    thought = "".join(json.loads(e.data)["text"] for e in events if e.event == "thinking")
    assert record.thinking_tokens > 500 and len(thought.split()) > 200
    assert json.loads(events[-1].data)["output_tokens"] == record.planned_output_tokens


def test_a_client_leaving_the_chat_stops_the_generation(
    web: RunningWeb, simulator: Simulator
) -> None:
    config.set_time_scale(0.1)  # a reply of ~7 simulated s now lasts ~0.7 s: time to leave
    with (
        _client(web) as http,
        http.stream(
            "GET", "/chat", params={"question": "Write a 400-word essay on queues"}
        ) as response,
    ):
        for n, _event in enumerate(httpx2.EventSource(response)):
            if n == 3:
                break
    wait_until(lambda: any(r.cancelled for r in simulator.ledger), 10, "the upstream to close")
    record = next(r for r in simulator.ledger if r.cancelled)
    assert record.generated_tokens < record.planned_output_tokens


def test_a_job_a_person_starts_from_the_page_runs_on_the_human_clock(
    idle_web: RunningWeb, fake_redis: redis.Redis
) -> None:
    from rq.job import Job

    with _client(idle_web) as http:
        by_person = http.post("/ask", data={"question": QUESTION}).headers["location"]
        by_code = http.post("/jobs", json={"question": QUESTION}).json()["id"]
    person_job = Job.fetch(by_person.removeprefix("/r/"), connection=get_queue().connection)
    code_job = Job.fetch(by_code, connection=get_queue().connection)
    assert person_job.meta["time_scale"] == config.human_time_scale()
    assert "time_scale" not in code_job.meta  # a cell that measures keeps the worker's clock


@pytest.mark.slow
def test_202_says_queued_even_when_a_worker_takes_the_job_at_once(web: RunningWeb) -> None:
    """The body of 202 Accepted is the job as accepted, never a race with the worker."""
    with _client(web) as http:
        bodies = [http.post("/jobs", json={"question": f"Question {i}?"}).json() for i in range(5)]
        for body in bodies:
            assert body["status"] == "queued", body
            assert body["progress"] == {
                "step": "queued",
                "percent": 0,
                "message": "Waiting for a worker",
            }
        # ...while the worker really did take them: the status endpoint moves on
        finished = [poll_job(http, body["id"], first_s=2.0) for body in bodies]
        assert {outcome.status for outcome in finished} == {"finished"}
