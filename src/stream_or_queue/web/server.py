"""Run the web service on loopback from a notebook or a test, and stop it cleanly.

`serve_in_thread()` starts uvicorn on a background thread (port 0 picks a free
port; `stream_or_queue.serving` does it for every server of the course) and,
when the queue is the in-process fakeredis, an RQ worker thread too - with a
real Redis the workers are separate processes (`python -m stream_or_queue.jobs
--workers N`). `stop()` ends the server; jobs, events and results stay in
Redis, which is the point: a new server started afterwards serves the same jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import uvicorn

from .. import serving
from ..jobs import ThreadWorker, is_fake
from ..serving import ServerThread
from . import jobs
from .app import WebService, create_app

__all__ = ["RunningWeb", "make_server", "serve_in_thread"]


def make_server(
    service: WebService, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> uvicorn.Server:
    """A uvicorn server for `service` (not started yet)."""
    return serving.make_server(service, host=host, port=port, log_level=log_level)


@dataclass
class RunningWeb:
    """The service running on a background thread: `url`, `service`, `worker`, `stop()`."""

    url: str
    service: WebService
    worker: ThreadWorker | None
    _served: ServerThread

    def stop(self, *, stop_worker: bool = True) -> None:
        """Stop serving (and the in-process worker, after its current job)."""
        self._served.stop()
        if stop_worker and self.worker is not None:
            self.worker.stop()

    def __enter__(self) -> RunningWeb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(
    service: WebService | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    worker: bool | None = None,
) -> RunningWeb:
    """Serve `service` (default: `create_app()`) on loopback from this process.

    `worker=None` starts an in-process RQ worker only when the queue is the
    in-process fakeredis (nothing else could run the jobs there).
    """
    service = service or create_app()
    if worker is None:
        worker = is_fake(service.redis)
    if worker:
        jobs.agent()  # loaded now, so that the first job does not pay for the import
    job_worker = (
        ThreadWorker([service.queue_name], connection=service.redis).start() if worker else None
    )
    try:
        served = serving.serve_in_thread(service, host=host, port=port, name="web-http")
    except BaseException:
        if job_worker is not None:
            job_worker.stop()
        raise
    return RunningWeb(served.url, service, job_worker, served)
