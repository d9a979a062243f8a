"""The research assistant as a web service: stream short answers, queue long ones.

`create_app()` builds the service (small FastAPI routers behind a simulated edge;
the job function is a parameter); `serve_in_thread()` runs
it on loopback from a notebook or a test; `python -m stream_or_queue.web --port
8000` runs it on its own. `clients` has the Python side: a polling client with
backoff and an SSE client that reattaches with Last-Event-ID.
"""

from __future__ import annotations

from ..edge import DurationLimit, Edge, EdgeTimeout, IdleTimeout
from .app import QuestionIn, WebService, create_app, run_in_request
from .jobs import cancel, job_view, research_job, submit
from .server import RunningWeb, serve_in_thread

__all__ = [
    "DurationLimit",
    "Edge",
    "EdgeTimeout",
    "IdleTimeout",
    "QuestionIn",
    "RunningWeb",
    "WebService",
    "cancel",
    "create_app",
    "job_view",
    "research_job",
    "run_in_request",
    "serve_in_thread",
    "submit",
]
