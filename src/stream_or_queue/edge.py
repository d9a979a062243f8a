"""A simulated edge: the load balancer / CDN / function platform in front of the app.

Every real deployment has a component that ends a request which stays open too
long (`config.EDGE_TIMEOUTS_S`). `EdgeTimeout` wraps any ASGI app and does the
same after `timeout_s` *simulated* seconds of the request's total duration, as
a function platform does: if the app has not started answering, the client
gets `504 Gateway Timeout`; if it is part-way through a streamed answer, the
connection is dropped, and the client keeps only what already arrived.
"""

from __future__ import annotations

import asyncio
import json
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import clock, config

__all__ = ["EdgeTimeout", "cut_on_purpose", "mark_cut_on_purpose"]

_CUT_ON_PURPOSE: ContextVar[bool] = ContextVar("soq_cut_on_purpose", default=False)


def mark_cut_on_purpose() -> None:
    """Say that the response being served is cut on purpose (a simulated edge, a fault).

    The server logs an incomplete response as an error; its log filter asks
    `cut_on_purpose()`, which reads this mark in the same request's context.
    """
    _CUT_ON_PURPOSE.set(True)


def cut_on_purpose() -> bool:
    """True inside a request whose response was cut on purpose (see `mark_cut_on_purpose`)."""
    return _CUT_ON_PURPOSE.get()


class EdgeTimeout:
    """ASGI middleware cutting every HTTP request after `timeout_s` simulated seconds.

    `timeout_s=None` turns the edge off. `cut_before_answer` and `cut_mid_stream`
    count what it did, for the notebooks.
    """

    def __init__(
        self, app: ASGIApp, timeout_s: float | None = config.DEFAULT_EDGE_TIMEOUT_S
    ) -> None:
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"edge timeout must be positive (None: no edge), got {timeout_s}")
        self.app = app
        self.timeout_s = timeout_s
        self.cut_before_answer = 0
        self.cut_mid_stream = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.timeout_s is None:
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await asyncio.wait_for(
                self.app(scope, receive, watched_send), clock.to_real(self.timeout_s)
            )
        except TimeoutError:
            if started:
                # Returning without finishing the body makes the server drop the
                # connection: what a load balancer does to a stream it cuts.
                self.cut_mid_stream += 1
                mark_cut_on_purpose()
                return
            self.cut_before_answer += 1
            body = json.dumps(
                {
                    "detail": f"Gateway Timeout: the edge ends requests after "
                    f"{self.timeout_s:g} simulated seconds",
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 504,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-edge-timeout-s", f"{self.timeout_s:g}".encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
