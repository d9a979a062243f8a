"""Checks for lab 04: measure the edge's failure rate, then build the start-then-poll pair.

The learner writes `edge_failure_rate(durations, timeout_s)` and
`add_job_routes(app, queue)`, which adds `POST /jobs` and `GET /jobs/{job_id}`
to a FastAPI app. The check serves that app on loopback with a real RQ worker
and talks to it over HTTP, as any client would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx2
from fastapi import FastAPI
from rq import Queue

from .. import clock, serving
from ..jobs import ThreadWorker, get_queue
from . import call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "LAB_QUEUE",
    "check_edge_failure_rate",
    "check_job_routes",
    "hint",
    "lab_job",
    "report",
]

LAB_QUEUE = "lab04"


def lab_job(question: str) -> dict[str, str]:
    """The job the lab enqueues: 5 simulated seconds of "work", then an answer."""
    clock.sleep(5.0)
    return {"answer": f"You asked: {question}"}


def check_edge_failure_rate(edge_failure_rate: Callable[[Sequence[float], float], float]) -> None:
    """`edge_failure_rate(durations, timeout_s)`: the share of durations the edge would cut."""
    durations = [30.0, 45.0, 59.9, 60.0, 60.1, 75.0, 90.0, 120.0]
    got = call_learner(edge_failure_rate, list(durations), 60.0)
    expect(
        isinstance(got, float | int) and not isinstance(got, bool),
        f"edge_failure_rate should return a number between 0 and 1; it returned {got!r}.",
    )
    expect(
        abs(float(got) - 0.5) < 1e-9,
        f"For {durations} and a 60 s edge expected 0.5, got {got!r}. A request is cut when "
        "it lasts *longer* than the timeout: count `d > timeout_s`, then divide by the "
        "number of durations (a request of exactly 60 s still gets its answer).",
    )
    expect(
        float(call_learner(edge_failure_rate, durations, 100.0)) == 0.125,
        "With a 100 s edge only the 120 s request is cut: 1 of 8 = 0.125.",
    )
    empty = call_learner(edge_failure_rate, [], 60.0)
    expect(
        empty == 0.0,
        f"With no durations the rate should be 0.0 (nothing was cut), got "
        f"{empty!r}: guard against dividing by zero.",
    )
    passed("edge_failure_rate counts the requests that outlive the edge.")


@contextmanager
def _serve(app: FastAPI) -> Iterator[str]:
    served = serving.serve_in_thread(app, name="lab04-http", log_level="error", lifespan="off")
    with served:
        yield served.url


def _poll(http: httpx2.Client, location: str, limit_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while True:
        body: dict[str, Any] = http.get(location).json()
        if body.get("status") in ("finished", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(clock.to_real(1.0))


def check_job_routes(add_job_routes: Callable[[FastAPI, Queue], None]) -> None:
    """POST /jobs -> 202 + Location + id; GET /jobs/{id} -> status, then the result; 404; 422."""
    queue = get_queue(LAB_QUEUE)
    queue.empty()
    app = FastAPI()
    call_learner(add_job_routes, app, queue)
    paths = {(m, getattr(r, "path", "")) for r in app.routes for m in getattr(r, "methods", ())}
    expect(
        ("POST", "/jobs") in paths,
        'No `POST /jobs` route: decorate a function with `@app.post("/jobs", '
        "status_code=202)` inside add_job_routes.",
    )
    expect(
        ("GET", "/jobs/{job_id}") in paths,
        "No `GET /jobs/{job_id}` route: decorate a function with "
        '`@app.get("/jobs/{job_id}")` inside add_job_routes.',
    )
    with (
        _serve(app) as url,
        httpx2.Client(base_url=url, timeout=10) as http,
        ThreadWorker([LAB_QUEUE], connection=queue.connection),
    ):
        response = http.post("/jobs", json={"question": "Is this a job?"})
        expect(
            response.status_code == 202,
            f"POST /jobs answered {response.status_code}; it should be 202 Accepted: the "
            "work has been accepted, not done (`status_code=202` in the decorator).",
        )
        body = response.json()
        job_id = body.get("id") if isinstance(body, dict) else None
        expect(
            isinstance(job_id, str) and job_id,
            f"POST /jobs returned {body!r}: return a JSON object with the job's `id`.",
        )
        location = response.headers.get("location", "")
        expect(
            location == f"/jobs/{job_id}",
            f"The Location header is {location!r}; it should be '/jobs/{job_id}', the URL "
            'to poll (`response.headers["Location"] = ...`, with `response: Response`).',
        )
        other = http.post("/jobs", json={"question": "Another one?"}).json().get("id", "")
        expect(
            isinstance(job_id, str)
            and len(job_id) >= 16
            and re.fullmatch(r"[A-Za-z0-9_-]+", job_id) is not None
            and other != job_id,
            f"The ids {job_id!r} and {other!r} are guessable or repeat: anyone could read "
            "other people's results. Use `secrets.token_urlsafe(16)` as the RQ `job_id`.",
        )
        empty = http.post("/jobs", json={"question": "  "})
        expect(
            empty.status_code == 422,
            f"An empty question got {empty.status_code}; it should be 422. Validate the "
            "body with a pydantic model whose validator rejects a blank question.",
        )
        missing = http.get("/jobs/" + "x" * 22)
        expect(
            missing.status_code == 404,
            f"GET of an unknown id answered {missing.status_code}; it should be 404 "
            "(catch rq's NoSuchJobError and raise HTTPException(404)).",
        )
        first = http.get(location).json()
        expect(
            isinstance(first, dict) and first.get("status") in ("queued", "started"),
            f"Right after POST, GET {location} returned {first!r}: return at least "
            '{"id": ..., "status": job.get_status()} while the job runs.',
        )
        final = _poll(http, location)
        expect(
            final.get("status") == "finished",
            f"The job never reached 'finished' (last answer: {final!r}). Enqueue "
            "`lab04.lab_job` with the question: `queue.enqueue(lab_job, question, "
            "job_id=...)`.",
        )
        expect(
            final.get("result") == {"answer": "You asked: Is this a job?"},
            f"A finished job should include its `result` (job.return_value()); got "
            f"{final.get('result')!r}.",
        )
    passed("POST /jobs answers 202 at once, and GET /jobs/{id} reports the job until its result.")


LAB = LabProgress(
    "lab04",
    {
        "edge_failure_rate": Help(
            hint="A request is cut when it runs longer than the timeout. What share of the durations is that? And what is the share of nothing?",
            answer="0.0 if not durations else sum(d > timeout_s for d in durations) / len(durations)",
        ),
        "job_routes": Help(
            hint="POST enqueues and answers at once (202, a Location, an unguessable id); GET fetches the job by id, answers 404 for an unknown one, and reports status and result.",
            answer="@app.post('/jobs', status_code=202)\ndef start(body: Ask, response: Response) -> dict:\n    job = queue.enqueue(lab04.lab_job, body.question, job_id=secrets.token_urlsafe(16))\n    response.headers['Location'] = f'/jobs/{job.id}'\n    return {'id': job.id, 'status': job.get_status()}\n\n@app.get('/jobs/{job_id}')\ndef status(job_id: str) -> dict:\n    try:\n        job = Job.fetch(job_id, connection=queue.connection)\n    except NoSuchJobError:\n        raise HTTPException(404, 'no such job') from None\n    state = job.get_status()\n    return {'id': job.id, 'status': state, 'result': job.return_value() if state == 'finished' else None}",
        ),
    },
)
check_edge_failure_rate = LAB.check(check_edge_failure_rate)
check_job_routes = LAB.check(check_job_routes)
hint = LAB.hint
report = LAB.report
