"""Streaming helpers: measurements match the simulator, and a stop stops the model.

The cancellation tests run at real time (time scale 1.0) so that one token
interval is ~13 ms of wall-clock time, and they compare the simulator's ledger
with the tokens that were *due* when the stop was requested - a count, not a
timing threshold.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import anthropic
import pytest

from stream_or_queue import async_client, client, clock, config
from stream_or_queue.simulator import Faults, RequestRecord, Simulator, reset_default_simulator
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
    tokens_due_by,
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


# --- on a simulated timeline: exact figures, no wall-clock wait ---------------------------------


@pytest.fixture
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any wall-clock sleep fails the test (the async ones may only yield to the loop)."""
    real_asleep = asyncio.sleep

    def forbidden(seconds: float) -> None:
        raise AssertionError(f"time.sleep({seconds}) on a simulated timeline")

    async def yield_only(seconds: float) -> None:
        assert seconds == 0, f"asyncio.sleep({seconds}) on a simulated timeline"
        await real_asleep(0)

    monkeypatch.setattr(time, "sleep", forbidden)
    monkeypatch.setattr(asyncio, "sleep", yield_only)


def test_a_stream_on_a_timeline_measures_the_schedule_exactly(
    simulator: Simulator, no_real_sleep: None
) -> None:
    with clock.simulated() as line:
        clock.sleep(7.0)  # the timeline need not start at zero
        stats = measure_stream(client(), **params(ESSAY))
    record = record_for(simulator, stats)
    rate = (record.planned_output_tokens - 1) / (record.scheduled_total_s - record.scheduled_ttft_s)
    assert stats.ttft_s == pytest.approx(record.scheduled_ttft_s, abs=1e-9)
    assert stats.total_s == pytest.approx(record.scheduled_total_s, abs=1e-9)
    assert stats.arrivals == pytest.approx(
        [record.scheduled_ttft_s + i / rate for i in range(record.planned_output_tokens)], abs=1e-9
    )
    assert stats.tokens_per_s == pytest.approx(rate)
    assert line.now == pytest.approx(7.0 + record.scheduled_total_s, abs=1e-9)


def test_a_plain_call_on_a_timeline_takes_exactly_the_scheduled_total(
    simulator: Simulator, no_real_sleep: None
) -> None:
    with clock.simulated():
        call = measure_call(client(), **params(ESSAY))
    record = upstream_record(call.request_id, simulator)
    assert record is not None and record.completed
    assert call.latency_s == pytest.approx(record.scheduled_total_s, abs=1e-9)


def test_a_stop_on_a_timeline_saves_exactly_the_tokens_scheduled_after_it(
    simulator: Simulator, no_real_sleep: None
) -> None:
    with clock.simulated():
        stats = measure_stream(client(), stop_after_tokens=25, **params(ESSAY))
    record = record_for(simulator, stats)
    assert stats.cancel_requested_s is not None
    assert stats.cancel_requested_s == stats.arrivals[24], "stopped as the 25th token arrived"
    assert tokens_due_by(record, stats.cancel_requested_s) == 25
    assert record.generated_tokens == record.delivered_tokens == 25
    assert savings(stats, simulator).tokens == record.planned_output_tokens - 25


def test_the_async_twins_on_a_timeline_are_exact_too(
    simulator: Simulator, no_real_sleep: None
) -> None:
    async def run() -> tuple[StreamStats, float]:
        with clock.simulated():
            stopped = await ameasure_stream(async_client(), stop_after_tokens=25, **params(ESSAY))
            call = await ameasure_call(async_client(), **params(CHAT))
        return stopped, call.latency_s

    stopped, latency = asyncio.run(run())
    record = record_for(simulator, stopped)
    assert stopped.ttft_s == pytest.approx(record.scheduled_ttft_s, abs=1e-9)
    assert record.generated_tokens == 25 and stopped.cancel_requested_s == stopped.arrivals[-1]
    plain = simulator.ledger[-1]
    assert latency == pytest.approx(plain.scheduled_total_s, abs=1e-9)


def test_the_same_seed_gives_the_same_figures_on_a_timeline() -> None:
    def run() -> list[float]:
        reset_default_simulator(Simulator(seed=3))
        with clock.simulated():
            return measure_stream(client(), **params(CHAT)).arrivals

    try:
        assert run() == run()
    finally:
        reset_default_simulator()


def test_a_read_timeout_on_a_timeline_counts_simulated_seconds(
    simulator: Simulator, no_real_sleep: None
) -> None:
    with clock.simulated() as line, pytest.raises(anthropic.APITimeoutError):
        client().with_options(timeout=0.5, max_retries=0).messages.create(**params(ESSAY))
    assert line.now == 0.5
    assert simulator.ledger[-1].scheduled_total_s > 0.5


def test_tokens_due_by_follows_the_schedule() -> None:
    record = RequestRecord(
        request_id="req_x",
        endpoint="POST /v1/messages",
        planned_output_tokens=101,
        scheduled_ttft_s=1.0,
        scheduled_total_s=11.0,
    )
    due = [tokens_due_by(record, t) for t in (0.5, 1.0, 1.05, 1.1, 6.0, 500.0)]
    assert due == [0, 1, 1, 2, 51, 101]
