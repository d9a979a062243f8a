"""Cancellation accounting: a client that stops reading stops the generation.

The ledger records, per request, the tokens the model planned, generated and
delivered. These tests use a deliberately slow model (10 tokens per simulated
second at a time scale of 1) so that one token interval (100 ms) is far longer
than the SDK's own overhead, even on a busy machine: "generated is within one token of delivered" is
then a property of the simulator, not a race.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from simulator_support import (
    HEADERS,
    MODEL,
    ask,
    async_client,
    http_client,
    sync_client,
)
from support import wait_until

from stream_or_queue import clock, config
from stream_or_queue.config import TimingProfile
from stream_or_queue.simulator import RequestRecord, RunningServer, Simulator, serve_in_thread

SLOW = {MODEL: TimingProfile(ttft_min_s=0.05, ttft_max_s=0.05, tokens_per_s=10.0, speed_jitter=0.0)}
PROMPT = "Write a 300-word essay about cancelling long answers."
READ = 6  # text pieces to read before stopping


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with config.time_scale_set_to(1.0):
        yield Simulator(seed=8, timing=SLOW)


@pytest.fixture
def server(sim: Simulator) -> Iterator[RunningServer]:
    with serve_in_thread(sim) as running:
        yield running


def _check_cancelled(record: RequestRecord, *, read: int) -> None:
    assert record.cancelled and not record.completed
    assert record.ended is not None
    assert record.planned_output_tokens > 300
    assert read <= record.delivered_tokens <= record.generated_tokens
    assert record.generated_tokens < record.planned_output_tokens


def _read_then_close(client: Any) -> str:
    """Read READ text chunks of a stream, close it, and return its request id."""
    with client.messages.stream(**ask(PROMPT)) as stream:
        for count, _ in enumerate(stream.text_stream, start=1):
            if count == READ:
                break
        return stream.request_id or ""


def test_closing_a_stream_early_stops_generation(sim: Simulator) -> None:
    with sync_client(sim) as client:
        request_id = _read_then_close(client)
    record = sim.find(request_id)
    assert record is not None
    _check_cancelled(record, read=READ)
    # within one token interval of what the client had received
    assert record.generated_tokens - record.delivered_tokens <= 1
    assert sim.in_flight == 0
    stats = sim.stats()
    assert stats["cancelled"] == 1
    assert stats["planned_output_tokens"] - stats["generated_output_tokens"] > 250


@pytest.mark.anyio
async def test_closing_an_async_stream_early_stops_generation(sim: Simulator) -> None:
    async with async_client(sim) as client, client.messages.stream(**ask(PROMPT)) as stream:
        count = 0
        async for _ in stream.text_stream:
            count += 1
            if count == READ:
                break
        request_id = stream.request_id
    record = sim.find(request_id or "")
    assert record is not None
    _check_cancelled(record, read=READ)
    assert record.generated_tokens - record.delivered_tokens <= 1
    assert sim.in_flight == 0


def test_on_a_simulated_timeline_a_close_stops_generation_at_exactly_what_was_read(
    sim: Simulator,
) -> None:
    """No race left: the timeline stands still between two reads, so the model has
    written exactly the tokens read when the client closes, and the plan never slept."""
    with clock.simulated() as line, sync_client(sim) as client:
        record = sim.find(_read_then_close(client))
    assert record is not None
    _check_cancelled(record, read=READ)
    assert record.generated_tokens == record.delivered_tokens == READ
    assert line.now == pytest.approx(0.05 + (READ - 1) / 10.0), "the READth token's due time"


def test_the_loopback_server_keeps_the_wall_clock_inside_a_timeline(
    sim: Simulator, server: RunningServer
) -> None:
    """A timeline belongs to its thread: the HTTP server's thread plays on the time scale,
    and the client's timeline does not move for waits it did not make itself."""
    with clock.simulated() as line, http_client(server.url) as client:
        client.messages.create(**ask("Why stream tokens?", max_tokens=5))
    assert line.now == 0.0


def test_client_disconnect_over_http_is_noticed_by_the_server(
    sim: Simulator, server: RunningServer
) -> None:
    with http_client(server.url) as client, client.messages.stream(**ask(PROMPT)) as stream:
        for count, _ in enumerate(stream.text_stream, start=1):
            if count == READ:
                break
        request_id = stream.request_id
    wait_until(lambda: (r := sim.find(request_id or "")) is not None and r.ended is not None)
    record = sim.find(request_id or "")
    assert record is not None
    _check_cancelled(record, read=READ)
    # the server may have written a few more tokens into the socket, never many more
    assert record.generated_tokens - READ <= 5
    wait_until(lambda: sim.in_flight == 0, what="no request in flight")
    # ...and it keeps serving
    with config.time_scale_set_to(0), http_client(server.url) as client:
        assert client.messages.create(**ask("still there?")).stop_reason == "end_turn"


def test_raw_http_client_hanging_up_mid_stream(sim: Simulator, server: RunningServer) -> None:
    body = {**ask(PROMPT), "stream": True}
    with (
        httpx2.Client(base_url=server.url) as http,
        http.stream("POST", "/v1/messages", json=body, headers=HEADERS) as response,
    ):
        request_id = response.headers["request-id"]
        chunks = response.iter_bytes()
        while b"content_block_delta" not in next(chunks):
            pass
    wait_until(lambda: (r := sim.find(request_id)) is not None and r.ended is not None)
    record = sim.find(request_id)
    assert record is not None and record.cancelled
    assert record.generated_tokens < record.planned_output_tokens


def test_closing_before_the_first_token_generates_almost_nothing(sim: Simulator) -> None:
    with sync_client(sim) as client:
        stream = client.messages.create(**ask(PROMPT), stream=True)
        stream.close()
    record = sim.ledger[-1]
    assert record.cancelled and record.delivered_tokens == 0
    assert record.generated_tokens <= 1


def test_a_stream_read_to_the_end_is_not_cancelled(sim: Simulator) -> None:
    fast = Simulator(seed=8)
    with (
        config.time_scale_set_to(0),
        sync_client(fast) as client,
        client.messages.stream(**ask(PROMPT)) as stream,
    ):
        text = "".join(stream.text_stream)
    record = fast.ledger[-1]
    assert text and not record.cancelled and record.completed
    assert record.planned_output_tokens == record.generated_tokens == record.delivered_tokens


def test_non_streamed_requests_are_generated_in_full(sim: Simulator) -> None:
    fast = Simulator(seed=8)
    with config.time_scale_set_to(0), sync_client(fast) as client:
        message = client.messages.create(**ask(PROMPT))
    record = fast.ledger[-1]
    assert record.generated_tokens == record.delivered_tokens == message.usage.output_tokens
    assert record.ended is not None and record.completed and not record.cancelled
