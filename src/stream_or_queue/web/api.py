"""The JSON API of start-then-poll: start a job, read it, follow its events, cancel it.

- `POST /jobs` `{"question": ...}` -> `202 Accepted`, `Location: /jobs/{id}`, the job's view.
- `GET /jobs/{id}`: status (queued, started, finished, failed, canceled), progress, result.
- `GET /jobs/{id}/events`: SSE of progress events with ids; `Last-Event-ID` resumes.
- `DELETE /jobs/{id}`: cancel.

Every route reads the job store through `Depends(get_state)`. When Redis cannot
be reached they raise, and the app answers 503 with `Retry-After` (see `app.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from rq.job import Job
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from . import events, jobs
from .schemas import QuestionIn
from .state import QUEUE_ERRORS, State, WebState, log, request_id

__all__ = ["WEB_SSE_RETRY_MS", "router"]

WEB_SSE_RETRY_MS = 500
"""The `retry:` hint sent to EventSource clients: how soon to reconnect after a cut."""

WEB_SSE_STATUS_CHECK_S = 0.5
"""An idle event stream re-checks the job's status this often (real s).

A crashed worker writes no event, so silence alone must not look like progress.
"""

router = APIRouter()
_ENDED = frozenset({"finished", "failed", "stopped", "canceled"})


def view_or_404(state: WebState, job_id: str) -> dict[str, Any]:
    view = jobs.job_view(state.connection, job_id)
    if view is None:
        raise HTTPException(404, "no such job")
    return view


@router.post("/jobs", status_code=202)
def start_job(body: QuestionIn, response: Response, state: State) -> dict[str, Any]:
    job = jobs.submit(body.question, queue=state.queue, job=state.job)
    response.headers["Location"] = f"/jobs/{job.id}"
    response.headers["Cache-Control"] = "no-store"
    return jobs.accepted_view(job)


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, state: State) -> JSONResponse:
    # The hot path of every polling client: one async round trip to Redis, and the
    # view returned as it is (it is JSON data already; no re-validation).
    view = await jobs.ajob_view(state.async_connection, state.connection, job_id)
    if view is None:
        raise HTTPException(404, "no such job")
    return JSONResponse(view, headers={"Cache-Control": "no-store"})


@router.delete("/jobs/{job_id}")
def delete_job(job_id: str, state: State) -> dict[str, Any]:
    status = jobs.cancel(state.connection, job_id)
    if status is None:
        raise HTTPException(404, "no such job")
    if status != "canceled":
        raise HTTPException(409, f"the job has already {status}")
    return view_or_404(state, job_id)


@router.get("/jobs/{job_id}/events")
async def job_events(
    job_id: str,
    request: Request,
    state: State,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[str | None, Query()] = None,
) -> EventSourceResponse:
    await run_in_threadpool(view_or_404, state, job_id)
    cursor = last_event_id if events.valid_event_id(last_event_id) else after
    return EventSourceResponse(
        _event_stream(
            state, job_id, cursor if events.valid_event_id(cursor) else None, request_id(request)
        ),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    state: WebState, job_id: str, cursor: str | None, rid: str
) -> AsyncIterator[ServerSentEvent]:
    """The job's events from `cursor` on, until its terminal event.

    If Redis goes away mid-stream, the stream ends cleanly (one log line, no
    traceback) and the client reconnects with `Last-Event-ID` after the `retry:`
    delay - a browser's EventSource does that on its own.
    """
    try:
        async for event in _events_until_terminal(state, job_id, cursor):
            yield event
    except QUEUE_ERRORS as exc:
        log.error(
            "event stream ended early: the queue cannot be reached (request_id=%s job=%s: %s)",
            rid,
            job_id,
            exc,
        )


async def _events_until_terminal(
    state: WebState, job_id: str, cursor: str | None
) -> AsyncIterator[ServerSentEvent]:
    aconn = state.async_connection
    retry: int | None = WEB_SSE_RETRY_MS
    check_every = WEB_SSE_STATUS_CHECK_S
    with state.event_hub.watch(job_id) as woken:
        while True:
            woken.clear()
            for event in await events.aread_events(aconn, job_id, after=cursor):
                cursor = event.id
                yield ServerSentEvent(
                    data=json.dumps(event.data),
                    event="done" if event.terminal else "progress",
                    id=event.id,
                    retry=retry,
                )
                retry = None
                if event.terminal:
                    return
            try:
                await asyncio.wait_for(woken.wait(), check_every)
                check_every = WEB_SSE_STATUS_CHECK_S
            except TimeoutError:
                # Quiet for a while: did the job end without a word (a crashed worker)?
                # Check less and less often, so idle streams cost next to nothing.
                check_every = min(2 * check_every, 8 * WEB_SSE_STATUS_CHECK_S)
                status = await aconn.hget(Job.key_for(job_id), "status")
                if status is None or events.as_text(status) in _ENDED:
                    await run_in_threadpool(_end_if_job_ended, state.connection, job_id)


def _end_if_job_ended(connection: redis.Redis, job_id: str) -> None:
    """A worker that crashed writes no terminal event: write it from RQ's status."""
    job = jobs.fetch(connection, job_id)
    if job is None:
        events.publish_terminal(connection, job_id, "failed", "The job has expired.")
        return
    status = job.get_status(refresh=True)
    if status in ("failed", "stopped", "canceled"):
        step = "failed" if status == "failed" else "canceled"
        events.publish_terminal(
            connection, job_id, step, "The research failed." if step == "failed" else "Canceled"
        )
    elif status == "finished":
        events.publish_terminal(
            connection,
            job_id,
            "finished",
            "The answer is ready",
            result=jobs.as_result(job.return_value()),
        )
