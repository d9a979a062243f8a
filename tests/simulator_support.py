"""Helpers shared by the simulator tests: real SDK clients on every way in, raw SSE.

Every client here validates responses strictly (`_strict_response_validation=True`):
a field the real API would send but the simulator forgot, or a wrong type, fails
the test instead of being silently accepted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx2
from anthropic.types import MessageParam
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

from stream_or_queue import config
from stream_or_queue.simulator import (
    AsyncSimulatorTransport,
    Faults,
    RunningServer,
    Simulator,
    SimulatorTransport,
    serve_in_thread,
)

MODEL = config.FAST_MODEL
LARGE = config.LARGE_MODEL
KEY = "test-key"
IN_PROCESS_URL = "http://simulator.test"


def sync_client(
    sim: Simulator, *, faults: Faults | None = None, max_retries: int = 0, **kwargs: Any
) -> anthropic.Anthropic:
    """The real sync SDK on the in-process transport."""
    return anthropic.Anthropic(
        api_key=KEY,
        base_url=IN_PROCESS_URL,
        max_retries=max_retries,
        http_client=httpx2.Client(transport=SimulatorTransport(sim, faults=faults)),
        _strict_response_validation=True,
        **kwargs,
    )


def async_client(
    sim: Simulator, *, faults: Faults | None = None, max_retries: int = 0, **kwargs: Any
) -> anthropic.AsyncAnthropic:
    """The real async SDK on the in-process async transport."""
    return anthropic.AsyncAnthropic(
        api_key=KEY,
        base_url=IN_PROCESS_URL,
        max_retries=max_retries,
        http_client=httpx2.AsyncClient(transport=AsyncSimulatorTransport(sim, faults=faults)),
        _strict_response_validation=True,
        **kwargs,
    )


def http_client(url: str, *, max_retries: int = 0, **kwargs: Any) -> anthropic.Anthropic:
    """The real sync SDK over loopback HTTP."""
    return anthropic.Anthropic(
        api_key=KEY,
        base_url=url,
        max_retries=max_retries,
        _strict_response_validation=True,
        **kwargs,
    )


def async_http_client(url: str, *, max_retries: int = 0, **kwargs: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=KEY,
        base_url=url,
        max_retries=max_retries,
        _strict_response_validation=True,
        **kwargs,
    )


@contextmanager
def sync_sdk(sim: Simulator, way: str, **kwargs: Any) -> Iterator[anthropic.Anthropic]:
    """A sync SDK client reaching `sim` in-process (`way="inproc"`) or over HTTP."""
    if way == "inproc":
        with sync_client(sim, **kwargs) as client:
            yield client
        return
    with serve_in_thread(sim) as server, http_client(server.url, **kwargs) as client:
        yield client


def user(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


def ask_params(text: str) -> MessageCreateParamsNonStreaming:
    """Messages params for one user turn (fast model, room for a full answer)."""
    return {"model": MODEL, "max_tokens": 1024, "messages": user(text)}


def ask(text: str, **params: Any) -> dict[str, Any]:
    """`ask_params` with extra (or deliberately bad) parameters on top."""
    return {**ask_params(text), **params}


# --- raw HTTP ----------------------------------------------------------------------------


def raw_client(sim: Simulator) -> httpx2.Client:
    """A plain httpx2 client on the in-process transport: no SDK in between."""
    return httpx2.Client(transport=SimulatorTransport(sim), base_url=IN_PROCESS_URL)


HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}


def error_json(error: anthropic.APIStatusError) -> dict[str, Any]:
    """The JSON body of an API error the SDK raised (the SDK types it as `object`)."""
    body = error.body
    assert isinstance(body, dict), f"not a JSON object: {body!r}"
    return body


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs of a complete text/event-stream body."""
    events: list[tuple[str, dict[str, Any]]] = []
    for frame in raw.decode().split("\n\n"):
        if not frame.strip():
            continue
        name, data = "", ""
        for line in frame.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data += line[len("data: ") :]
        events.append((name, json.loads(data)))
    return events


def raw_stream_events(
    post: Callable[..., httpx2.Response], body: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    response = post("/v1/messages", json={**body, "stream": True}, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.content)


__all__ = [
    "HEADERS",
    "IN_PROCESS_URL",
    "KEY",
    "LARGE",
    "MODEL",
    "RunningServer",
    "ask",
    "async_client",
    "async_http_client",
    "error_json",
    "http_client",
    "parse_sse",
    "raw_client",
    "raw_stream_events",
    "sync_client",
    "sync_sdk",
    "user",
]
