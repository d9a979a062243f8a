"""A simulated edge: the load balancer / CDN / function platform in front of the app.

Every real deployment has a component that ends a request which stays open too
long, and there are two rules (`config.EDGE_LIMITS`):

- a **duration limit** ends a request after a total time, however busy it is
  (function platforms, API gateways): streaming does not save it;
- an **idle timeout** ends a request after a time with no bytes on the
  connection (load balancers, CDN proxies): a silent request dies, a stream
  that keeps sending survives.

`Edge` wraps any ASGI app and applies either rule, or both, on *simulated*
seconds: if the app has not started answering, the client gets `504 Gateway
Timeout`; if it is part-way through a streamed answer, the connection is
dropped and the client keeps only what already arrived. `DurationLimit` and
`IdleTimeout` are the one-rule edges; `cut_at` is the same rules as arithmetic,
for tables over many requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Sequence
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import clock, config
from .config import EdgeKind, EdgeLimit

__all__ = [
    "DurationLimit",
    "Edge",
    "EdgeKind",
    "EdgeLimit",
    "EdgeTimeout",
    "IdleTimeout",
    "cut_at",
    "cut_on_purpose",
    "mark_cut_on_purpose",
]

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


def cut_at(limit: EdgeLimit, duration_s: float, sent_at: Sequence[float] = ()) -> float | None:
    """When `limit` cuts a request that lasts `duration_s`, or None if it survives.

    `sent_at` are the moments (seconds from the start) when the server sent bytes;
    a silent request sends only its answer, at `duration_s`. A duration limit
    ignores them; an idle timeout cuts at the first silence longer than it.
    """
    if duration_s < 0 or any(t < 0 or t > duration_s for t in sent_at):
        raise ValueError("times must lie between 0 and the request's duration")
    if limit.kind == "duration":
        return limit.seconds if duration_s > limit.seconds else None
    last = 0.0
    for moment in [*sorted(sent_at), duration_s]:
        if moment - last > limit.seconds:
            return last + limit.seconds
        last = moment
    return None


def _positive(name: str, value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise ValueError(f"edge {name} must be positive (None: no such limit), got {value}")
    return value


class Edge:
    """ASGI middleware ending HTTP requests by a duration limit, an idle timeout, or both.

    Both limits are in simulated seconds and may be changed at any time; None
    turns a rule off. `cut_before_answer` and `cut_mid_stream` count what the
    edge did, `cuts` counts the cuts by rule ("duration", "idle"), for the notebooks.
    """

    def __init__(
        self, app: ASGIApp, *, duration_s: float | None = None, idle_s: float | None = None
    ) -> None:
        self.app = app
        self.duration_s = _positive("duration limit", duration_s)
        self.idle_s = _positive("idle timeout", idle_s)
        self.cut_before_answer = 0
        self.cut_mid_stream = 0
        self.cuts: Counter[EdgeKind] = Counter()

    def _deadline(self, begun: float, last_byte: float) -> tuple[float, EdgeKind] | None:
        """The next moment (real, loop clock) a rule would cut, and which rule."""
        found: list[tuple[float, EdgeKind]] = []
        if self.duration_s is not None:
            found.append((begun + clock.to_real(self.duration_s), "duration"))
        if self.idle_s is not None:
            found.append((last_byte + clock.to_real(self.idle_s), "idle"))
        return min(found) if found else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.duration_s is None and self.idle_s is None):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        begun = last_byte = loop.time()
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started, last_byte
            if message["type"] == "http.response.start":
                started = True
            await send(message)
            last_byte = loop.time()  # bytes on the wire: an idle timer starts again

        async def watched_receive() -> Message:
            nonlocal last_byte
            message = await receive()
            if message["type"] == "http.request":
                last_byte = loop.time()
            return message

        task = asyncio.ensure_future(self.app(scope, watched_receive, watched_send))
        rule: EdgeKind
        try:
            while True:
                deadline = self._deadline(begun, last_byte)
                timeout = None if deadline is None else max(0.0, deadline[0] - loop.time())
                done, _ = await asyncio.wait({task}, timeout=timeout)
                if done:
                    task.result()
                    return
                deadline = self._deadline(begun, last_byte)  # bytes may have moved it
                if deadline is not None and loop.time() >= deadline[0]:
                    rule = deadline[1]
                    break
        finally:
            if not task.done():
                # cancelling the app stops the work behind the request, as a real
                # server does when the edge hangs up
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._cut(rule, started, send)

    async def _cut(self, kind: EdgeKind, started: bool, send: Send) -> None:
        self.cuts[kind] += 1
        if started:
            # Returning without finishing the body makes the server drop the
            # connection: what a load balancer does to a stream it cuts.
            self.cut_mid_stream += 1
            mark_cut_on_purpose()
            return
        self.cut_before_answer += 1
        seconds = self.duration_s if kind == "duration" else self.idle_s
        rule = "ends requests after" if kind == "duration" else "ends requests silent for"
        body = json.dumps(
            {"detail": f"Gateway Timeout: the edge {rule} {seconds:g} simulated seconds"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 504,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-edge-timeout-s", f"{seconds:g}".encode()),
                    (b"x-edge-rule", kind.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class DurationLimit(Edge):
    """An edge with one rule: a request's total duration (a function platform, an API gateway).

    `timeout_s=None` turns it off.
    """

    def __init__(
        self, app: ASGIApp, timeout_s: float | None = config.DEFAULT_EDGE_TIMEOUT_S
    ) -> None:
        super().__init__(app, duration_s=timeout_s)

    @property
    def timeout_s(self) -> float | None:
        """The limit in simulated seconds (may be changed at any time)."""
        return self.duration_s

    @timeout_s.setter
    def timeout_s(self, value: float | None) -> None:
        self.duration_s = _positive("duration limit", value)


class IdleTimeout(Edge):
    """An edge with one rule: time with no bytes sent (a load balancer, a CDN proxy).

    `timeout_s=None` turns it off.
    """

    def __init__(self, app: ASGIApp, timeout_s: float | None = config.DEFAULT_EDGE_IDLE_S) -> None:
        super().__init__(app, idle_s=timeout_s)

    @property
    def timeout_s(self) -> float | None:
        """The idle timeout in simulated seconds (may be changed at any time)."""
        return self.idle_s

    @timeout_s.setter
    def timeout_s(self, value: float | None) -> None:
        self.idle_s = _positive("idle timeout", value)


EdgeTimeout = DurationLimit
"""The name the web service has used for its edge: a total-duration limit."""
