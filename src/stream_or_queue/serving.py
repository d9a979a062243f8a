"""One way to run an ASGI app with uvicorn: in this process on a thread, or as the program.

The simulator, the web service and the research rig are all served by
`serve_in_thread()` from notebooks and tests (port 0 picks a free port) and by
`make_server()` when they run as their own program. Both install one log
filter, `CutStreamFilter`: uvicorn logs a response that ended before its body
was complete as an error, and that stays an error - unless the app said the
cut was on purpose (`stream_or_queue.edge.mark_cut_on_purpose`: the simulated
edge, a simulated fault). A bug that cuts a stream is then never mistaken for
the demonstration.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from .edge import cut_on_purpose

__all__ = [
    "CutStreamFilter",
    "ServerThread",
    "free_port",
    "install_cut_stream_filter",
    "make_server",
    "serve_in_thread",
]

Lifespan = Literal["auto", "on", "off"]


def free_port() -> int:
    """A loopback port nothing listens on right now, for a server started by port number.

    Prefer port 0 where the server can report what it bound (`serve_in_thread`): a
    port found here can be taken by someone else before it is used.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


START_TIMEOUT_S = 15.0


class CutStreamFilter(logging.Filter):
    """Hide only the incomplete responses an app cut on purpose; every other one is logged.

    uvicorn writes "ASGI callable returned without completing response" from the
    request's own task, right after the app returned, so the request's context
    still holds the app's `mark_cut_on_purpose()`. asyncio's "socket.send()
    raised exception." means the client had already hung up (a closed tab): the
    client's choice, not the server's fault.
    """

    INCOMPLETE = "returned without completing response"
    CLIENT_GONE = "socket.send() raised exception"

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.INCOMPLETE in message:
            return not cut_on_purpose()
        return self.CLIENT_GONE not in message


def install_cut_stream_filter() -> None:
    """Install `CutStreamFilter` once on uvicorn's error logger and asyncio's logger."""
    for name in ("uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, CutStreamFilter) for f in logger.filters):
            logger.addFilter(CutStreamFilter())


def make_server(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    lifespan: Lifespan = "on",
    graceful_s: int = 2,
) -> uvicorn.Server:
    """A uvicorn server for `app` (not started yet), with the cut-stream filter installed."""
    uv_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan=lifespan,
        timeout_graceful_shutdown=graceful_s,
    )
    install_cut_stream_filter()
    return uvicorn.Server(uv_config)


@dataclass
class ServerThread:
    """A uvicorn server running on a background thread: `url`, `port`, `stop()`."""

    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the server to exit and wait for its thread (open streams get `graceful_s`)."""
        self.server.should_exit = True
        self.thread.join(timeout=timeout)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "http",
    log_level: str = "warning",
    lifespan: Lifespan = "on",
    graceful_s: int = 2,
) -> ServerThread:
    """Serve `app` from a daemon thread; returns once it accepts connections."""
    server = make_server(
        app, host=host, port=port, log_level=log_level, lifespan=lifespan, graceful_s=graceful_s
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{name}: could not start on {host}:{port}")
        time.sleep(0.01)
    bound = int(server.servers[0].sockets[0].getsockname()[1])
    return ServerThread(f"http://{host}:{bound}", bound, server, thread)
