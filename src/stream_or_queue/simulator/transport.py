"""httpx2 transports that hand the SDK's requests straight to a `Simulator`.

`anthropic.Anthropic(http_client=httpx2.Client(transport=SimulatorTransport(sim)))`
runs the real SDK - request building, retries, SSE parsing, response validation -
with no socket in between. Closing a stream early closes the plan, which is how
the simulator learns that the client cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx2

from .. import clock, config
from .engine import ConnectionDropped, SimRequest, SimResponse, Simulator, StreamPlan
from .faults import Faults

__all__ = ["AsyncSimulatorTransport", "SimulatorTransport"]

_DROPPED = "Server disconnected without sending a response."
_TIMED_OUT = "The read operation timed out"


def _wait_for_body(result: SimResponse, request: httpx2.Request) -> tuple[float, bool]:
    """Seconds to wait for a non-streamed body, and whether the read times out first.

    Over a socket, the client's read timeout (the SDK's `timeout=`) fires when no
    byte arrives in time; in-process it must be applied here, or a short timeout
    would never fire. The model still generates the whole answer (it cannot know).
    The seconds are real ones at the time scale, or simulated ones on a simulated
    timeline (where the timeout, too, counts simulated seconds).
    """
    wait = result.delay_s if clock.timeline() is not None else result.delay_s * config.time_scale()
    timeouts = request.extensions.get("timeout") or {}
    read = timeouts.get("read") if isinstance(timeouts, dict) else None
    if read is not None and wait > read:
        return float(read), True
    return wait, False


def _to_sim_request(request: httpx2.Request, body: bytes) -> SimRequest:
    url = request.url
    port = f":{url.port}" if url.port else ""
    return SimRequest(
        method=request.method,
        path=url.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        query=dict(url.params.items()),
        base_url=f"{url.scheme}://{url.host}{port}",
    )


class _SyncPlanStream(httpx2.SyncByteStream):
    def __init__(self, plan: StreamPlan) -> None:
        self._plan = plan

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._plan
        except ConnectionDropped as exc:
            raise httpx2.RemoteProtocolError(str(exc)) from None

    def close(self) -> None:
        self._plan.close()


class _AsyncPlanStream(httpx2.AsyncByteStream):
    def __init__(self, plan: StreamPlan) -> None:
        self._plan = plan

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._plan:
                yield chunk
        except ConnectionDropped as exc:
            raise httpx2.RemoteProtocolError(str(exc)) from None

    async def aclose(self) -> None:
        self._plan.close()


def _response(
    result: SimResponse,
    request: httpx2.Request,
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream | None,
) -> httpx2.Response:
    if stream is not None:
        return httpx2.Response(
            result.status, headers=result.headers, stream=stream, request=request
        )
    return httpx2.Response(
        result.status, headers=result.headers, content=result.body, request=request
    )


class SimulatorTransport(httpx2.BaseTransport):
    """Synchronous in-process transport (for `anthropic.Anthropic`)."""

    def __init__(self, simulator: Simulator, *, faults: Faults | None = None) -> None:
        self.simulator = simulator
        self.faults = faults

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        result = self.simulator.handle(_to_sim_request(request, request.read()), faults=self.faults)
        if result.stream is not None:
            return _response(result, request, _SyncPlanStream(result.stream))
        wait, timed_out = _wait_for_body(result, request)
        line = clock.timeline()
        try:
            if line is not None:
                line.sleep(wait)
            elif wait > 0:
                time.sleep(wait)
        finally:
            result.release()
        if timed_out:
            raise httpx2.ReadTimeout(_TIMED_OUT, request=request)
        if result.drop:
            raise httpx2.RemoteProtocolError(_DROPPED)
        return _response(result, request, None)


class AsyncSimulatorTransport(httpx2.AsyncBaseTransport):
    """Asynchronous in-process transport (for `anthropic.AsyncAnthropic`)."""

    def __init__(self, simulator: Simulator, *, faults: Faults | None = None) -> None:
        self.simulator = simulator
        self.faults = faults

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        result = self.simulator.handle(_to_sim_request(request, body), faults=self.faults)
        if result.stream is not None:
            return _response(result, request, _AsyncPlanStream(result.stream))
        wait, timed_out = _wait_for_body(result, request)
        line = clock.timeline()
        try:
            if line is not None:
                await line.asleep(wait)
            elif wait > 0:
                await asyncio.sleep(wait)
        finally:
            result.release()
        if timed_out:
            raise httpx2.ReadTimeout(_TIMED_OUT, request=request)
        if result.drop:
            raise httpx2.RemoteProtocolError(_DROPPED)
        return _response(result, request, None)
