"""`/healthz` (the process answers) and `/readyz` (it can do its work: send it traffic).

A load balancer or an orchestrator asks both: `/healthz` failing means restart
the process; `/readyz` failing means keep traffic away until it passes - the
queue does not answer, or no worker has been seen on the web queue within
`config.WEB_READY_WORKER_WINDOW_S`, so a job started now would only wait.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..jobs import live_workers
from .state import QUEUE_ERRORS, State

__all__ = ["PING_TIMEOUT_S", "router"]

router = APIRouter()
PING_TIMEOUT_S = 0.5


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the process serves requests (says nothing about the queue)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """Ready: the queue answers a PING and a worker beat recently; else 503 and why."""
    name = state.queue.name
    try:
        await asyncio.wait_for(state.async_connection.ping(), PING_TIMEOUT_S)
    except (redis.ConnectionError, redis.TimeoutError, TimeoutError) as exc:
        return _unready(f"the job queue does not answer ({type(exc).__name__})", name)
    window = state.ready_worker_window_s
    try:
        workers = await run_in_threadpool(live_workers, state.queue, window)
    except QUEUE_ERRORS as exc:
        return _unready(f"the job queue does not answer ({type(exc).__name__})", name)
    if workers == 0:
        return _unready(f"no worker on queue {name!r} seen in the last {window:g} s", name)
    body: dict[str, Any] = {"status": "ready", "queue": name, "workers": workers}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _unready(reason: str, queue: str) -> JSONResponse:
    return JSONResponse(
        {"status": "unavailable", "reason": reason, "queue": queue},
        status_code=503,
        headers={"Cache-Control": "no-store"},
    )
