"""Streaming: the exact event sequence of the real API, through raw HTTP and the SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from simulator_support import (
    HEADERS,
    MODEL,
    ask,
    async_client,
    async_http_client,
    parse_sse,
    raw_client,
    raw_stream_events,
    sync_client,
    sync_sdk,
)

from stream_or_queue import config
from stream_or_queue.simulator import RunningServer, Simulator, serve_in_thread

T0 = {"extra_body": {"temperature": 0}}


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=4)


@pytest.fixture
def server(sim: Simulator) -> Iterator[RunningServer]:
    with serve_in_thread(sim) as running:
        yield running


def _check_sequence(events: list[tuple[str, dict[str, Any]]]) -> str:
    """Assert the real API's order of events for a one-block text answer; return the text."""
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = names[3:-3]
    assert deltas and set(deltas) == {"content_block_delta"}
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] > 0
    block = events[1][1]
    assert block["index"] == 0 and block["content_block"] == {"type": "text", "text": ""}
    assert all(data["index"] == 0 for name, data in events if name.startswith("content_block"))
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "end_turn"
    # usage in message_delta is cumulative: every token streamed so far
    assert final["usage"]["output_tokens"] == len(deltas)
    return text


def test_raw_event_sequence_in_process(sim: Simulator) -> None:
    with raw_client(sim) as http, sync_client(sim) as sdk:
        events = raw_stream_events(http.post, ask("Why stream tokens?", temperature=0))
        message = sdk.messages.create(**ask("Why stream tokens?", **T0))
    text = _check_sequence(events)
    block = message.content[0]
    assert block.type == "text" and text == block.text
    assert events[-2][1]["usage"]["output_tokens"] == message.usage.output_tokens


def test_raw_event_sequence_over_http(server: RunningServer) -> None:
    with httpx2.Client(base_url=server.url) as http:
        events = raw_stream_events(http.post, ask("Why stream tokens?"))
    _check_sequence(events)


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_sdk_stream_helper_accumulates_the_same_message(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        with client.messages.stream(**ask("Why stream tokens?", **T0)) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
            request_id = stream.request_id
        plain = client.messages.create(**ask("Why stream tokens?", **T0))
    assert len(pieces) > 5
    assert "".join(pieces) == final.content[0].text == plain.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == plain.usage.output_tokens == len(pieces)
    assert final.stop_reason == "end_turn"
    record = sim.find(request_id or "")
    assert record is not None and record.stream and record.completed and not record.cancelled
    assert record.generated_tokens == record.delivered_tokens == record.planned_output_tokens


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_sdk_raw_stream_events_in_order(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        stream = client.messages.create(**ask("Why stream tokens?"), stream=True)
        with stream:
            types = [event.type for event in stream]
    # the SDK swallows `ping`; everything else arrives in the documented order
    assert types[0] == "message_start" and types[1] == "content_block_start"
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(types[2:-3]) == {"content_block_delta"}


@pytest.mark.anyio
async def test_async_stream_in_process(sim: Simulator) -> None:
    async with (
        async_client(sim) as client,
        client.messages.stream(**ask("Why stream tokens?", **T0)) as stream,
    ):
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == len(pieces)


@pytest.mark.anyio
async def test_async_stream_over_http(sim: Simulator, server: RunningServer) -> None:
    async with (
        async_http_client(server.url) as client,
        client.messages.stream(**ask("Why stream tokens?", **T0)) as stream,
    ):
        final = await stream.get_final_message()
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 5


def test_stream_with_max_tokens_and_stop_sequence(sim: Simulator) -> None:
    with sync_client(sim) as client:
        with client.messages.stream(**ask("Write a 100-word note on queues.", max_tokens=5)) as s:
            cut = s.get_final_message()
        with client.messages.stream(
            **ask("Write a 100-word note on queues.", stop_sequences=["worker"], **T0)
        ) as s:
            stopped = s.get_final_message()
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 5
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "worker"
    assert "worker" not in stopped.content[0].text  # type: ignore[union-attr]


def test_first_token_never_arrives_before_its_scheduled_time(sim: Simulator) -> None:
    """The plan is played back on time: early tokens would make every TTFT figure wrong."""
    with config.time_scale_set_to(0.02), sync_client(sim) as client:
        started = time.perf_counter()
        with client.messages.stream(**ask("Why stream tokens?")) as stream:
            next(iter(stream.text_stream))
            first = time.perf_counter() - started
            request_id = stream.request_id
        record = sim.find(request_id or "")
    assert record is not None
    assert first >= record.scheduled_ttft_s * 0.02 - 1e-3


def test_a_long_document_streams_every_word(sim: Simulator) -> None:
    with (
        config.time_scale_set_to(0),
        sync_client(sim) as client,
        client.messages.stream(
            **ask("Write a 2000-word report on message queues.", max_tokens=8000)
        ) as stream,
    ):
        text = "".join(stream.text_stream)
    assert 2000 <= len(text.split()) <= 2100
    record = sim.ledger[-1]
    assert record.delivered_tokens == record.planned_output_tokens > 2000


def test_sse_frames_are_well_formed_over_raw_http(server: RunningServer) -> None:
    """What curl would see: `event:` and `data:` lines, a blank line between events."""
    with httpx2.Client(base_url=server.url) as http:
        body = {**ask("hi"), "stream": True}
        with http.stream("POST", "/v1/messages", json=body, headers=HEADERS) as response:
            raw = b"".join(response.iter_bytes())
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    assert raw.startswith(b"event: message_start\ndata: {")
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert len(parse_sse(raw)) == raw.count(b"\n\n")


def test_model_in_stream_is_the_canonical_id(sim: Simulator) -> None:
    with raw_client(sim) as http:
        events = raw_stream_events(http.post, ask("hi"))
    assert events[0][1]["message"]["model"] == MODEL
