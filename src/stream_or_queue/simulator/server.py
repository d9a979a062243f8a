"""The simulator as a loopback HTTP server, for any client (curl included).

A plain ASGI app served by uvicorn: `python -m stream_or_queue.simulator --port 8765`,
then `ANTHROPIC_BASE_URL=http://127.0.0.1:8765`. It binds 127.0.0.1 unless told
otherwise. A client that hangs up mid-stream is noticed through the ASGI
`http.disconnect` message, and generation stops there, as in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.types import Receive, Scope, Send

from .. import config, serving
from ..edge import mark_cut_on_purpose
from ..serving import ServerThread
from .engine import ConnectionDropped, SimRequest, SimResponse, Simulator, StreamPlan
from .errors import ApiError, dumps
from .faults import Faults

__all__ = [
    "RunningServer",
    "SimulatorApp",
    "make_server",
    "serve_in_thread",
]


def _headers(pairs: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in pairs.items()]


async def _lifespan(receive: Receive, send: Send) -> None:
    """Take part in the ASGI lifespan protocol (nothing to start or stop)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _declared_length(headers: dict[str, str]) -> int:
    """The Content-Length the client declared (0 when absent or unreadable)."""
    try:
        return int(headers.get("content-length", "0") or 0)
    except ValueError:
        return 0


def _faults(headers: dict[str, str]) -> Faults | None:
    """Faults asked for by this request's `x-sim-faults` header (400 when unreadable)."""
    spec = headers.get("x-sim-faults")
    if not spec:
        return None
    try:
        return Faults.parse(spec)
    except (ValueError, TypeError) as exc:
        raise ApiError("invalid_request_error", f"x-sim-faults: {exc}") from None


def _sim_request(scope: Scope, headers: dict[str, str], body: bytes) -> SimRequest:
    host = headers.get("host", "127.0.0.1")
    return SimRequest(
        method=scope["method"],
        path=scope["path"],
        headers=headers,
        body=body,
        query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
        base_url=f"{scope.get('scheme', 'http')}://{host}",
    )


class SimulatorApp:
    """ASGI application serving a `Simulator` (plus `/_sim/*` for its ledger)."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await self._read_body(headers, receive, send)
        if body is None:
            return
        if scope["path"].startswith("/_sim/"):
            await self._admin(scope, body, send)
            return
        try:
            faults = _faults(headers)
        except ApiError as error:
            await self._send_error(send, error)
            return
        result = self.simulator.handle(_sim_request(scope, headers, body), faults=faults)
        if result.stream is None:
            await self._answer(result, send)
        else:
            await self._stream(result, result.stream, receive, send)

    async def _read_body(
        self, headers: dict[str, str], receive: Receive, send: Send
    ) -> bytes | None:
        """The whole request body; None when it was refused (a 413 was sent) or the client
        left. A declared size over the limit is refused before a byte is read."""
        limit = self.simulator.max_batch_body_bytes
        too_large = ApiError("request_too_large", "Request exceeds the maximum allowed size")
        if _declared_length(headers) > limit:
            await self._send_error(send, too_large)
            return None
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body.extend(message.get("body", b""))
            if len(body) > limit:
                await self._send_error(send, too_large)
                return None
            if not message.get("more_body"):
                return bytes(body)

    async def _answer(self, result: SimResponse, send: Send) -> None:
        """A whole response, after its simulated delay (or a simulated dropped connection)."""
        try:
            if result.delay_s > 0:
                await asyncio.sleep(result.delay_s * config.time_scale())
        finally:
            result.release()
        if result.drop:
            await self._drop(send, result.headers)
            mark_cut_on_purpose()  # a simulated fault, not a server error
            return
        await self._send_plain(send, result.status, result.headers, result.body)

    async def _stream(
        self, result: SimResponse, plan: StreamPlan, receive: Receive, send: Send
    ) -> None:
        """Play a stream while watching for the client hanging up, which stops generation."""
        await send(
            {
                "type": "http.response.start",
                "status": result.status,
                "headers": _headers(result.headers),
            }
        )
        streamer = asyncio.ensure_future(self._play(plan, send))
        watcher = asyncio.ensure_future(self._wait_disconnect(receive))
        try:
            done, _ = await asyncio.wait({streamer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if watcher in done:
                streamer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await streamer
                mark_cut_on_purpose()  # the client hung up
            elif not streamer.result():
                mark_cut_on_purpose()  # a simulated mid-stream drop
        finally:
            watcher.cancel()
            plan.close()

    async def _send_error(self, send: Send, error: ApiError) -> None:
        body = dumps(error.body(self.simulator.new_id("req_")))
        await self._send_plain(send, error.status, {"content-type": "application/json"}, body)

    @staticmethod
    async def _play(plan: StreamPlan, send: Send) -> bool:
        """Send the stream; False if it was dropped on purpose (a simulated fault)."""
        try:
            async for chunk in plan.play(coalesce=True):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except ConnectionDropped:
            return False  # returning without ending the body makes uvicorn drop the connection
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    @staticmethod
    async def _drop(send: Send, headers: dict[str, str]) -> None:
        """Start a response and hang up part-way: the client sees a dropped connection.

        ASGI has no "abort"; returning before the body is complete makes the
        server close the socket, which is what a crashed upstream looks like.
        """
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": _headers({**headers, "content-length": "1024"}),
            }
        )
        await send({"type": "http.response.body", "body": b'{"id":', "more_body": True})

    @staticmethod
    async def _wait_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    @staticmethod
    async def _send_plain(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": _headers({**headers, "content-length": str(len(body))}),
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _admin(self, scope: Scope, body: bytes, send: Send) -> None:
        """`GET /_sim/stats`, `GET /_sim/ledger`, `POST /_sim/reset`: the accounting, over HTTP."""
        sim = self.simulator
        route = (scope["method"], scope["path"])
        payload: Any
        if route == ("GET", "/_sim/stats"):
            payload = sim.stats()
        elif route == ("GET", "/_sim/ledger"):
            payload = [r.as_dict() for r in list(sim.ledger)]
        elif route == ("POST", "/_sim/reset"):
            sim.reset()
            payload = {"ok": True}
        else:
            await self._send_plain(
                send,
                404,
                {"content-type": "application/json"},
                json.dumps({"error": "unknown admin route"}).encode(),
            )
            return
        await self._send_plain(send, 200, {"content-type": "application/json"}, dumps(payload))


@dataclass
class RunningServer:
    """A simulator served on loopback from a background thread."""

    url: str
    simulator: Simulator
    _served: ServerThread

    def stop(self) -> None:
        self._served.stop(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_server(simulator: Simulator, *, host: str = "127.0.0.1", port: int = 0) -> uvicorn.Server:
    """A uvicorn server for `simulator` (not started); its deliberate drops are not logged."""
    return serving.make_server(SimulatorApp(simulator), host=host, port=port, lifespan="off")


def serve_in_thread(
    simulator: Simulator | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> RunningServer:
    """Start the HTTP simulator in this process (port 0 picks a free port)."""
    simulator = simulator or Simulator()
    served = serving.serve_in_thread(
        SimulatorApp(simulator), host=host, port=port, name="simulator-http", lifespan="off"
    )
    return RunningServer(served.url, simulator, served)
