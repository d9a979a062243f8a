"""The simulated edge: a duration limit cuts a busy stream, an idle timeout only a silent one."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest
from starlette.types import Message, Receive, Scope, Send

from stream_or_queue import clock, config
from stream_or_queue.edge import (
    DurationLimit,
    Edge,
    EdgeLimit,
    EdgeTimeout,
    IdleTimeout,
    cut_at,
    cut_on_purpose,
)

HTTP: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}

DURATION_30 = EdgeLimit("a gateway", "duration", 30.0, "test", "December 2026")
IDLE_30 = EdgeLimit("a load balancer", "idle", 30.0, "test", "December 2026")


# --- the rules as arithmetic ---------------------------------------------------------


def test_a_silent_request_dies_at_either_kind_of_edge() -> None:
    assert cut_at(DURATION_30, 45.0) == 30.0
    assert cut_at(IDLE_30, 45.0) == 30.0
    assert cut_at(DURATION_30, 20.0) is None and cut_at(IDLE_30, 20.0) is None


def test_a_stream_survives_an_idle_timeout_and_not_a_duration_limit() -> None:
    every_10_s = [10.0 * i for i in range(1, 9)]  # bytes every 10 s for 80 s
    assert cut_at(IDLE_30, 80.0, every_10_s) is None
    assert cut_at(DURATION_30, 80.0, every_10_s) == 30.0


def test_an_idle_timeout_cuts_at_the_first_long_silence() -> None:
    # bytes at 5 and 10 s, then 40 s of silence: cut 30 s after the last byte
    assert cut_at(IDLE_30, 60.0, [5.0, 10.0, 50.0]) == 40.0
    # the answer itself ends the last silence: 25 s after the last progress is fine
    assert cut_at(IDLE_30, 35.0, [10.0]) is None


def test_cut_at_refuses_times_outside_the_request() -> None:
    with pytest.raises(ValueError, match="between 0"):
        cut_at(IDLE_30, 10.0, [11.0])
    with pytest.raises(ValueError, match="between 0"):
        cut_at(IDLE_30, -1.0)


def test_the_vendor_figures_carry_a_kind_a_source_and_a_date() -> None:
    kinds = {limit.name: limit.kind for limit in config.EDGE_LIMITS}
    assert kinds["AWS ALB (idle)"] == "idle" and kinds["Cloudflare proxy (read)"] == "idle"
    assert kinds["AWS API Gateway (REST)"] == "duration"
    assert all(limit.source and limit.documented for limit in config.EDGE_LIMITS)
    assert {e.name: e.seconds for e in config.EDGE_LIMITS} == config.EDGE_TIMEOUTS_S


# --- the rules on a real ASGI exchange ---------------------------------------------------


@dataclass
class Client:
    """Plays the server's side of ASGI: feeds the request, records what is sent."""

    sent: list[Message] = field(default_factory=list)

    async def receive(self) -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None

    @property
    def chunks(self) -> list[bytes]:
        return [m.get("body", b"") for m in self.sent if m["type"] == "http.response.body"]

    @property
    def finished(self) -> bool:
        bodies = [m for m in self.sent if m["type"] == "http.response.body"]
        return bool(bodies) and not bodies[-1].get("more_body", False)

    def header(self, name: bytes) -> bytes | None:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return dict(start["headers"]).get(name)


@dataclass
class App:
    """An ASGI app that answers after `silence_s`, or streams a chunk every `every_s`."""

    total_s: float
    every_s: float | None = None  # None: silent until the answer
    pause_after: int | None = None  # stream chunks, then go silent for the rest
    cancelled: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if self.every_s is None:
                await clock.asleep(self.total_s)
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"answer"})
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            chunks = int(self.total_s / self.every_s)
            for i in range(chunks):
                if self.pause_after is not None and i == self.pause_after:
                    await clock.asleep(self.total_s)  # a long silence mid-stream
                await clock.asleep(self.every_s)
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
            await send({"type": "http.response.body", "body": b"done"})
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def _serve(edge: Edge) -> Client:
    client = Client()
    asyncio.run(edge(HTTP, client.receive, client.send))
    return client


def test_a_silent_request_gets_504_from_a_duration_limit() -> None:
    app = App(total_s=30.0)
    edge = DurationLimit(app, 10.0)
    client = _serve(edge)
    assert client.status == 504 and client.header(b"x-edge-rule") == b"duration"
    assert "after 10 simulated seconds" in json.loads(client.chunks[0])["detail"]
    assert app.cancelled  # the work behind the request stops with it
    assert edge.cut_before_answer == 1 and edge.cuts["duration"] == 1


def test_a_silent_request_gets_504_from_an_idle_timeout() -> None:
    app = App(total_s=30.0)
    edge = IdleTimeout(app, 10.0)
    client = _serve(edge)
    assert client.status == 504 and client.header(b"x-edge-rule") == b"idle"
    assert "silent for 10 simulated seconds" in json.loads(client.chunks[0])["detail"]
    assert app.cancelled and edge.cuts["idle"] == 1


def test_a_stream_that_keeps_sending_survives_an_idle_timeout() -> None:
    app = App(total_s=40.0, every_s=1.0)  # 40 s in all, a byte every second
    edge = IdleTimeout(app, 10.0)
    client = _serve(edge)
    assert client.status == 200 and client.finished and client.chunks[-1] == b"done"
    assert not app.cancelled and sum(edge.cuts.values()) == 0


def test_the_same_stream_is_cut_mid_way_by_a_duration_limit() -> None:
    app = App(total_s=40.0, every_s=1.0)
    edge = Edge(app, duration_s=10.0, idle_s=10.0)  # both rules: the duration one fires
    client = _serve(edge)
    assert client.status == 200 and not client.finished
    assert 0 < client.chunks.count(b"x") < 40
    assert edge.cut_mid_stream == 1 and dict(edge.cuts) == {"duration": 1}
    assert app.cancelled


def test_a_stream_that_falls_silent_is_cut_by_an_idle_timeout() -> None:
    app = App(total_s=40.0, every_s=1.0, pause_after=3)
    edge = IdleTimeout(app, 10.0)
    client = _serve(edge)
    assert client.status == 200 and not client.finished
    assert client.chunks.count(b"x") == 3
    assert edge.cut_mid_stream == 1 and edge.cuts["idle"] == 1


def test_a_cut_stream_is_marked_as_cut_on_purpose() -> None:
    seen: list[bool] = []
    edge = DurationLimit(App(total_s=40.0, every_s=1.0), 5.0)

    async def run() -> None:
        client = Client()
        await edge(HTTP, client.receive, client.send)
        seen.append(cut_on_purpose())

    asyncio.run(run())
    assert seen == [True]


def test_limits_can_be_changed_and_turned_off() -> None:
    edge = EdgeTimeout(App(total_s=5.0), 2.0)
    assert isinstance(edge, DurationLimit) and edge.timeout_s == 2.0
    edge.timeout_s = None  # no edge: the slow answer arrives
    client = _serve(edge)
    assert client.status == 200 and client.finished
    with pytest.raises(ValueError, match="positive"):
        edge.timeout_s = 0


def test_other_scopes_pass_through() -> None:
    reached: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["type"])

    async def nothing() -> Message:
        return {"type": "lifespan.startup"}

    async def ignore(message: Message) -> None:
        return None

    asyncio.run(Edge(app, duration_s=1.0, idle_s=1.0)({"type": "lifespan"}, nothing, ignore))
    assert reached == ["lifespan"]


@pytest.mark.parametrize("kwargs", [{"duration_s": 0.0}, {"idle_s": -1.0}])
def test_an_edge_refuses_a_non_positive_limit(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        Edge(App(total_s=1.0), **kwargs)


def test_the_web_service_takes_either_rule_or_both() -> None:
    from stream_or_queue.web import create_app

    both = create_app(edge_timeout_s=60.0, edge_idle_s=30.0).edge
    assert (both.duration_s, both.idle_s) == (60.0, 30.0)
    idle_only = create_app(edge_timeout_s=None, edge_idle_s=30.0).edge
    assert (idle_only.duration_s, idle_only.idle_s) == (None, 30.0)
