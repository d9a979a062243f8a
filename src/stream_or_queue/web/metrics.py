"""A traffic meter: what crossed the wire between clients and the app.

Notebook 06 compares polling with server-sent events by what each costs the
server: requests, bytes sent, how many responses are open at once and for how
long. `TrafficMeter` is ASGI middleware that counts exactly that, per kind of
route, from the messages the app sends (headers and body bytes).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import clock

__all__ = ["Traffic", "TrafficMeter", "route_kind"]


_KINDS = (
    ("events", re.compile(r"^/jobs/[^/]+/events$")),
    ("status", re.compile(r"^/jobs/[^/]+$")),
    ("submit", re.compile(r"^/jobs$")),
    ("chat", re.compile(r"^/chat$")),
    ("sync", re.compile(r"^/research/(sync|stream)$")),
    ("page", re.compile(r"^/(r/[^/]+|ask)?$")),
)


def route_kind(method: str, path: str) -> str:
    """A coarse name for a request ("status", "events", ...) to group its traffic."""
    for kind, pattern in _KINDS:
        if pattern.match(path):
            if kind == "status" and method == "DELETE":
                return "cancel"
            return kind
    return "other"


@dataclass
class Traffic:
    """Counts for one kind of route (or all of them)."""

    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    open_now: int = 0
    peak_open: int = 0
    open_seconds: float = 0.0  # simulated seconds of responses held open, summed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrafficMeter:
    """ASGI middleware counting requests, bytes and open responses per route kind."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._by_kind: dict[str, Traffic] = {}
        self._total = Traffic()
        self._epoch = 0  # bumped by reset(); requests from an older epoch no longer count

    def reset(self) -> None:
        """Start counting afresh; responses still open from before are forgotten."""
        with self._lock:
            self._by_kind.clear()
            self._total = Traffic()
            self._epoch += 1

    def snapshot(self) -> dict[str, Traffic]:
        """A copy of the counts: per kind, plus "all"."""
        with self._lock:
            copy = {k: Traffic(**asdict(v)) for k, v in self._by_kind.items()}
            copy["all"] = Traffic(**asdict(self._total))
        return copy

    def _change(self, kind: str, epoch: int, **delta: float) -> None:
        with self._lock:
            if epoch != self._epoch:  # started before a reset: its close must not go negative
                return
            for traffic in (self._by_kind.setdefault(kind, Traffic()), self._total):
                for name, value in delta.items():
                    setattr(traffic, name, getattr(traffic, name) + value)
                traffic.peak_open = max(traffic.peak_open, traffic.open_now)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = route_kind(scope["method"], scope["path"])
        started = time.perf_counter()
        epoch = self._epoch
        self._change(kind, epoch, requests=1, open_now=1)

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self._change(kind, epoch, bytes_in=len(message.get("body", b"")))
            return message

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                size = 17 + sum(len(k) + len(v) + 4 for k, v in message.get("headers", []))
                self._change(kind, epoch, bytes_out=size)
            elif message["type"] == "http.response.body":
                self._change(kind, epoch, bytes_out=len(message.get("body", b"")))
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            held = clock.to_sim(time.perf_counter() - started)
            self._change(kind, epoch, open_now=-1, open_seconds=held)
