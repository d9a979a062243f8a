"""Streaming helpers: measurements match the simulator, and a stop stops the model.

The cancellation tests run at real time (time scale 1.0) so that one token
interval is ~13 ms of wall-clock time, and they compare the simulator's ledger
with the tokens that were *due* when the stop was requested - a count, not a
timing threshold.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import anthropic
import pytest

from stream_or_queue import async_client, client, config
from stream_or_queue.simulator import Faults, RequestRecord, Simulator
from stream_or_queue.streaming import (
    AsyncCancellableStream,
    CancellableStream,
    StreamStats,
    ameasure_call,
    ameasure_stream,
    measure_call,
    measure_stream,
    percentile,
    savings,
    tokens_due_at,
    upstream_record,
)

CHAT = [{"role": "user", "content": "Why do chat assistants stream their answers?"}]
ESSAY = [{"role": "user", "content": "Write a 600-word essay about queues and streams."}]


def params(
    messages: list[dict[str, str]] = CHAT, model: str = config.LARGE_MODEL, max_tokens: int = 2000
) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "messages": messages}


def record_for(sim: Simulator, stats: StreamStats) -> RequestRecord:
    record = upstream_record(stats.request_id, sim)
    assert record is not None, "the stream's request id is not in the simulator's ledger"
    return record


# --- measuring ---------------------------------------------------------------------------


def test_measure_stream_matches_the_ledger(simulator: Simulator) -> None:
    stats = measure_stream(client(), **params())
    record = record_for(simulator, stats)
    assert stats.text and not stats.cancelled and stats.error is None
    assert stats.stop_reason == "end_turn"
    assert stats.output_tokens == record.planned_output_tokens == len(stats.pieces)
    assert stats.input_tokens == record.input_tokens
    assert stats.arrivals == sorted(stats.arrivals)
    assert stats.ttft_s is not None and stats.total_s is not None
    assert 0 < stats.ttft_s < stats.total_s
    assert stats.tokens_per_s is not None and stats.tokens_per_s > 0
    assert stats.timeline()[-1] == (stats.arrivals[-1], stats.output_tokens)
    assert stats.cost == pytest.approx(
        (record.input_tokens * 3.0 + record.planned_output_tokens * 15.0) / 1e6
    )
    assert savings(stats, simulator).tokens == 0


def test_streamed_and_plain_calls_get_the_same_answer(simulator: Simulator) -> None:
    request = {**params(), "extra_body": {"temperature": 0.0}}  # same seed, same text
    streamed = measure_stream(client(), **request)
    plain = measure_call(client(), **request)
    assert plain.text == streamed.text
    assert plain.output_tokens == streamed.output_tokens
    assert plain.request_id is not None and plain.request_id != streamed.request_id
    assert plain.latency_s > 0 and plain.cost == pytest.approx(streamed.cost)


def test_on_text_sees_every_delta(simulator: Simulator) -> None:
    seen: list[str] = []
    stats = measure_stream(client(), on_text=seen.append, **params())
    assert "".join(seen) == stats.text


def test_async_twins_measure_the_same_things(simulator: Simulator) -> None:
    async def run() -> None:
        aclient = async_client()
        stats = await ameasure_stream(aclient, **params(ESSAY))
        record = record_for(simulator, stats)
        assert stats.output_tokens == record.planned_output_tokens
        assert not stats.cancelled and stats.stop_reason == "end_turn"
        call = await ameasure_call(aclient, **params())
        assert call.text and call.latency_s > 0

    asyncio.run(run())


def test_bad_parameters_are_refused_before_any_request(simulator: Simulator) -> None:
    with pytest.raises(TypeError, match="stream="):
        measure_stream(client(), stream=True, **params())
    with pytest.raises(TypeError, match="max_tokens"):
        CancellableStream(client(), model=config.LARGE_MODEL, messages=CHAT)
    assert simulator.ledger == []


def test_a_stream_error_is_an_error_not_a_cancellation() -> None:
    sim = Simulator(seed=3, faults=Faults(stream_error=1.0))
    stream = CancellableStream(client(simulator=sim), **params(ESSAY))
    with pytest.raises(anthropic.APIStatusError), stream:
        for _ in stream:
            pass
    assert stream.stats.error is not None and not stream.stats.cancelled


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="pct"):
        percentile([1.0], 0)


# --- stopping --------------------------------------------------------------------------


def test_stop_after_tokens_closes_upstream(simulator: Simulator) -> None:
    stats = measure_stream(client(), stop_after_tokens=25, **params(ESSAY))
    record = record_for(simulator, stats)
    assert stats.cancelled and len(stats.pieces) == 25
    assert record.cancelled and not record.completed
    assert record.generated_tokens < record.planned_output_tokens
    saved = savings(stats, simulator)
    assert saved.exact and saved.planned_tokens == record.planned_output_tokens
    assert saved.tokens == record.planned_output_tokens - record.generated_tokens > 0
    assert saved.dollars == pytest.approx(saved.tokens * 15.0 / 1e6)


def test_cancel_before_iterating_sends_nothing(simulator: Simulator) -> None:
    stream = CancellableStream(client(), **params())
    stream.cancel()
    assert list(stream) == []
    assert simulator.ledger == []


def test_savings_without_a_ledger_is_an_upper_bound_estimate(simulator: Simulator) -> None:
    stats = measure_stream(client(), stop_after_tokens=10, **params(ESSAY, max_tokens=500))
    estimate = savings(stats, Simulator())  # a simulator that never saw the request
    assert not estimate.exact and "max_tokens" in estimate.source
    assert estimate.tokens == 500 - stats.output_tokens


def test_sync_cancel_from_another_thread_stops_within_one_token(simulator: Simulator) -> None:
    config.set_time_scale(1.0)
    stream = CancellableStream(client(), **params(ESSAY))
    reached = threading.Event()
    stopped_at: list[float] = []

    def stopper() -> None:
        if reached.wait(timeout=30):
            stream.cancel()
            assert stream.stats.cancel_requested_real is not None
            stopped_at.append(stream.stats.cancel_requested_real)

    thread = threading.Thread(target=stopper)
    thread.start()
    with stream:
        for _ in stream:
            if len(stream.stats.pieces) == 5:
                reached.set()
    thread.join(timeout=30)
    record = record_for(simulator, stream.stats)
    assert stream.stats.cancelled and record.cancelled
    due = tokens_due_at(record, stopped_at[0])
    assert record.generated_tokens <= due + 1, (record.generated_tokens, due)
    assert record.generated_tokens < record.planned_output_tokens


def test_async_cancel_interrupts_the_wait_and_stops_within_one_token(
    simulator: Simulator,
) -> None:
    config.set_time_scale(1.0)

    async def run() -> tuple[AsyncCancellableStream, float]:
        stream = AsyncCancellableStream(async_client(), **params(ESSAY))
        five = asyncio.Event()

        def on_text(_: str) -> None:
            if len(stream.stats.pieces) >= 5:
                five.set()

        stream._on_text = on_text  # the stopper below plays a Stop button

        async def consume() -> None:
            async with stream:
                async for _ in stream:
                    pass

        task = asyncio.ensure_future(consume())
        await asyncio.wait_for(five.wait(), timeout=30)
        stream.cancel()  # the consumer is waiting for the next token right now
        assert stream.stats.cancel_requested_real is not None
        await asyncio.wait_for(task, timeout=30)
        assert not task.cancelled()
        return stream, stream.stats.cancel_requested_real

    stream, stopped_at = asyncio.run(run())
    record = record_for(simulator, stream.stats)
    assert stream.stats.cancelled and record.cancelled and not record.completed
    due = tokens_due_at(record, stopped_at)
    assert record.generated_tokens <= due + 1, (record.generated_tokens, due)
    assert len(stream.stats.pieces) <= due + 1


def test_ameasure_stream_stops_when_the_event_is_set(simulator: Simulator) -> None:
    async def run() -> StreamStats:
        cancel = asyncio.Event()
        aclient = async_client()
        task = asyncio.ensure_future(ameasure_stream(aclient, cancel=cancel, **params(ESSAY)))
        while not simulator.ledger or simulator.ledger[-1].delivered_tokens < 10:
            await asyncio.sleep(0.001)
        cancel.set()
        return await asyncio.wait_for(task, timeout=30)

    stats = asyncio.run(run())
    record = record_for(simulator, stats)
    assert stats.cancelled and record.cancelled
    assert 10 <= len(stats.pieces) < record.planned_output_tokens


def test_async_cancel_during_time_to_first_token(simulator: Simulator) -> None:
    config.set_time_scale(0.5)

    async def run() -> StreamStats:
        stream = AsyncCancellableStream(async_client(), **params(ESSAY))

        async def consume() -> None:
            async with stream:
                async for _ in stream:
                    pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)  # TTFT is >= 0.8 simulated s = 0.4 s here
        stream.cancel()
        await asyncio.wait_for(task, timeout=30)
        return stream.stats

    stats = asyncio.run(run())
    record = record_for(simulator, stats)
    assert stats.cancelled and stats.ttft_s is None and stats.pieces == []
    assert record.cancelled and record.generated_tokens == 0


def test_cancelling_the_task_itself_still_propagates(simulator: Simulator) -> None:
    async def run() -> AsyncCancellableStream:
        stream = AsyncCancellableStream(async_client(), **params(ESSAY))

        async def consume() -> None:
            async with stream:
                async for _ in stream:
                    pass

        task = asyncio.ensure_future(consume())
        while not stream.stats.pieces:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return stream

    stream = asyncio.run(run())
    record = record_for(simulator, stream.stats)
    assert record.cancelled and stream.stats.closed_real is not None


def test_tokens_due_at_follows_the_schedule() -> None:
    config.set_time_scale(1.0)
    record = RequestRecord(
        request_id="req_x",
        endpoint="POST /v1/messages",
        planned_output_tokens=101,
        scheduled_ttft_s=1.0,
        scheduled_total_s=11.0,
        started=100.0,
    )
    assert [tokens_due_at(record, 100.0 + t) for t in (0.5, 1.0, 1.05, 1.1, 6.0, 500.0)] == [
        0,
        1,
        1,
        2,
        51,
        101,
    ]
