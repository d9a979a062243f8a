"""Run the web service on loopback from a notebook or a test, and stop it cleanly.

`serve_in_thread()` starts uvicorn on a background thread (port 0 picks a free
port) and, when the queue is the in-process fakeredis, an RQ worker thread
too - with a real Redis the workers are separate `rq worker web` processes.
`stop()` ends the server; jobs, events and results stay in Redis, which is the
point: a new server started afterwards serves the same jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import uvicorn

from ..jobs import ThreadWorker, is_fake
from .app import WebService, create_app

__all__ = ["RunningWeb", "make_server", "serve_in_thread"]


class _CutStreamFilter(logging.Filter):
    """Hide the noise of streams cut on purpose (by the simulated edge, or a closed tab).

    uvicorn complains that the app "returned without completing response", and
    asyncio warns "socket.send() raised exception." when a few chunks were already
    on their way to a client that hung up. Both are the failure the course
    demonstrates, not a fault of the server; any other message still gets through.
    """

    HIDDEN = ("returned without completing response", "socket.send() raised exception")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(hidden in message for hidden in self.HIDDEN)


def _quiet_cut_streams() -> None:
    for name in ("uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _CutStreamFilter) for f in logger.filters):
            logger.addFilter(_CutStreamFilter())


def make_server(
    service: WebService, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> uvicorn.Server:
    """A uvicorn server for `service` (not started yet)."""
    uv_config = uvicorn.Config(
        service,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    _quiet_cut_streams()
    return uvicorn.Server(uv_config)


@dataclass
class RunningWeb:
    """The service running on a background thread: `url`, `service`, `worker`, `stop()`."""

    url: str
    service: WebService
    worker: ThreadWorker | None
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self, *, stop_worker: bool = True) -> None:
        """Stop serving (and the in-process worker, after its current job)."""
        self._server.should_exit = True
        self._thread.join(timeout=15)
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
    job_worker = (
        ThreadWorker([service.queue_name], connection=service.redis).start() if worker else None
    )
    server = make_server(service, host=host, port=port)
    thread = threading.Thread(target=server.run, name="web-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            if job_worker is not None:
                job_worker.stop()
            raise RuntimeError(f"the web service could not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningWeb(f"http://{host}:{bound}", service, job_worker, server, thread)
