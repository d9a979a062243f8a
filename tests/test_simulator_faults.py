"""Faults on demand, rate limits, and the SDK's own retries riding them out."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator

import anthropic
import httpx2
import pytest
from simulator_support import (
    HEADERS,
    ask,
    async_client,
    error_json,
    http_client,
    sync_client,
    sync_sdk,
)

from stream_or_queue import config
from stream_or_queue.simulator import Faults, RateLimits, RunningServer, Simulator, serve_in_thread

QUESTION = "How do retries with backoff work?"


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=7)


@pytest.fixture
def server(sim: Simulator) -> Iterator[RunningServer]:
    with serve_in_thread(sim) as running:
        yield running


# --- errors before any output -------------------------------------------------------------------


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_rate_limit_is_429_with_both_retry_headers(way: str) -> None:
    sim = Simulator(seed=1, faults=Faults(rate_limit=1.0, retry_after_s=150.0))
    with sync_sdk(sim, way) as client, pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(**ask(QUESTION))
    error = caught.value
    assert error.status_code == 429
    assert error_json(error)["error"]["type"] == "rate_limit_error"
    assert error_json(error)["request_id"] == error.request_id
    wait_real = 150.0 * config.time_scale()  # simulated seconds, sent in real time
    assert int(error.response.headers["retry-after-ms"]) == round(wait_real * 1000)
    assert int(error.response.headers["retry-after"]) == math.ceil(wait_real)
    assert sim.ledger[-1].fault == "rate_limit" and sim.ledger[-1].status == 429


def test_retry_after_ms_is_never_zero_at_time_scale_zero() -> None:
    """The SDK ignores a zero and backs off for half a second or more instead."""
    sim = Simulator(faults=Faults(rate_limit=1.0))
    with (
        config.time_scale_set_to(0),
        sync_client(sim) as client,
        pytest.raises(anthropic.RateLimitError) as caught,
    ):
        client.messages.create(**ask(QUESTION))
    assert caught.value.response.headers["retry-after-ms"] == "1"


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_overloaded_is_529(way: str) -> None:
    sim = Simulator(faults=Faults(overloaded=1.0))
    with sync_sdk(sim, way) as client, pytest.raises(anthropic.OverloadedError) as caught:
        client.messages.create(**ask(QUESTION))
    assert caught.value.status_code == 529
    assert error_json(caught.value)["error"]["type"] == "overloaded_error"
    assert "retry-after-ms" in caught.value.response.headers


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_server_error_is_500(way: str) -> None:
    sim = Simulator(faults=Faults(server_error=1.0))
    with sync_sdk(sim, way) as client, pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(**ask(QUESTION))
    assert caught.value.status_code == 500
    assert error_json(caught.value)["error"]["type"] == "api_error"


@pytest.mark.parametrize("kind", ["rate_limit", "overloaded"])
def test_sdk_retries_succeed_and_the_ledger_counts_them(kind: str) -> None:
    sim = Simulator(seed=2, faults=Faults(**{kind: 0.5}, retry_after_s=0.5, seed=9))
    questions = [f"{QUESTION} (case {i})" for i in range(8)]
    with sync_client(sim, max_retries=6) as client:
        answers = [client.messages.create(**ask(q)) for q in questions]
    assert all(a.stop_reason == "end_turn" for a in answers)
    failed = [r for r in sim.ledger if r.fault == kind]
    succeeded = [r for r in sim.ledger if r.status == 200]
    assert len(succeeded) == len(questions)
    assert failed, "with this seed some first attempts fail"
    # each success carries the SDK's retry counter: the failures before it
    assert sum(r.retry_count for r in succeeded) == len(failed)
    assert sim.stats()["retries"] == sum(r.retry_count > 0 for r in sim.ledger)
    assert all(r.status == (429 if kind == "rate_limit" else 529) for r in failed)


def test_fault_pattern_repeats_with_the_seed() -> None:
    def pattern(seed: int) -> list[int]:
        sim = Simulator(faults=Faults(rate_limit=0.3, overloaded=0.2, server_error=0.1, seed=seed))
        with sync_client(sim) as client:
            for i in range(12):
                with contextlib.suppress(anthropic.APIStatusError):
                    client.messages.create(**ask(f"{QUESTION} {i}"))
        return [r.status for r in sim.ledger]

    assert pattern(3) == pattern(3)
    assert pattern(3) != pattern(4)
    assert set(pattern(3)) - {200} <= {429, 529, 500}


def test_faults_per_client_override_the_simulator(sim: Simulator) -> None:
    with sync_client(sim, faults=Faults(overloaded=1.0)) as flaky, sync_client(sim) as steady:
        with pytest.raises(anthropic.OverloadedError):
            flaky.messages.create(**ask(QUESTION))
        assert steady.messages.create(**ask(QUESTION)).stop_reason == "end_turn"


def test_faults_per_request_over_http_header(server: RunningServer) -> None:
    with (
        http_client(server.url, default_headers={"x-sim-faults": "server_error=1"}) as flaky,
        pytest.raises(anthropic.InternalServerError),
    ):
        flaky.messages.create(**ask(QUESTION))
    with (
        http_client(server.url, default_headers={"x-sim-faults": "no_such_fault=1"}) as wrong,
        pytest.raises(anthropic.BadRequestError) as caught,
    ):
        wrong.messages.create(**ask(QUESTION))
    assert "no_such_fault" in caught.value.message
    with http_client(server.url) as steady:
        assert steady.messages.create(**ask(QUESTION)).stop_reason == "end_turn"


# --- faults part-way through ----------------------------------------------------------------------


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_error_event_mid_stream_makes_the_sdk_raise(way: str) -> None:
    sim = Simulator(faults=Faults(stream_error=1.0))
    received: list[str] = []
    with (
        sync_sdk(sim, way) as client,
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(**ask(QUESTION)) as stream,
    ):
        received.extend(stream.text_stream)
    assert error_json(caught.value)["error"]["type"] == "overloaded_error"
    assert received, "some text arrived before the error"
    record = sim.ledger[-1]
    assert record.fault == "stream_error" and not record.completed and not record.cancelled
    assert 0 < record.generated_tokens == record.delivered_tokens < record.planned_output_tokens


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_dropped_connection_mid_stream(way: str) -> None:
    sim = Simulator(faults=Faults(disconnect=1.0))
    received: list[str] = []
    with (
        sync_sdk(sim, way) as client,
        pytest.raises(anthropic.APIConnectionError) as caught,
        client.messages.stream(**ask(QUESTION)) as stream,
    ):
        received.extend(stream.text_stream)
    # anthropic >= 2.17 wraps the transport's error; the cause says what happened
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert received
    record = sim.ledger[-1]
    assert record.fault == "disconnect" and not record.completed
    assert record.generated_tokens == record.delivered_tokens < record.planned_output_tokens
    assert sim.in_flight == 0


@pytest.mark.anyio
async def test_stream_faults_async(sim: Simulator) -> None:
    async with async_client(sim, faults=Faults(stream_error=1.0)) as client:
        with pytest.raises(anthropic.APIStatusError):
            async with client.messages.stream(**ask(QUESTION)) as stream:
                async for _ in stream.text_stream:
                    pass
    async with async_client(sim, faults=Faults(disconnect=1.0)) as client:
        with pytest.raises(anthropic.APIConnectionError) as caught:
            async with client.messages.stream(**ask(QUESTION)) as stream:
                async for _ in stream.text_stream:
                    pass
        assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert [r.fault for r in sim.ledger] == ["stream_error", "disconnect"]
    assert sim.in_flight == 0


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_dropped_connection_without_stream_is_retried_by_the_sdk(way: str) -> None:
    sim = Simulator(faults=Faults(disconnect=1.0))
    with sync_sdk(sim, way) as client, pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**ask(QUESTION))
    assert [r.fault for r in sim.ledger] == ["disconnect"]
    assert sim.ledger[0].delivered_tokens == 0 and sim.ledger[0].generated_tokens > 0
    assert sim.in_flight == 0


@pytest.mark.slow
def test_sdk_retries_a_dropped_connection_until_it_gets_through() -> None:
    """Connection errors carry no retry-after: the SDK backs off 0.5 s+ per retry (real time)."""
    half = Simulator(seed=1, faults=Faults(disconnect=0.5, seed=4))
    with sync_client(half, max_retries=3) as client:
        for i in range(3):
            client.messages.create(**ask(f"{QUESTION} {i}"))
    drops = [r for r in half.ledger if r.fault == "disconnect"]
    assert drops, "with this seed a connection drops and the SDK retries it"
    assert sum(r.retry_count for r in half.ledger if r.completed) == len(drops)


# --- rate limits --------------------------------------------------------------------------------


def test_max_concurrency_429_until_a_slot_frees() -> None:
    sim = Simulator(limits=RateLimits(max_concurrency=1, retry_after_s=2.0))
    with sync_client(sim) as client:
        stream = client.messages.stream(**ask(QUESTION)).__enter__()
        assert sim.in_flight == 1
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.create(**ask(QUESTION))
        assert int(caught.value.response.headers["retry-after-ms"]) == round(
            2.0 * config.time_scale() * 1000
        )
        stream.close()
        assert sim.in_flight == 0
        assert client.messages.create(**ask(QUESTION)).stop_reason == "end_turn"
    assert sim.in_flight == 0


def test_requests_per_minute_window() -> None:
    sim = Simulator(limits=RateLimits(requests_per_minute=2))
    # 5 ms per simulated s: the minute lasts 300 ms, room for a slow machine
    with config.time_scale_set_to(0.005), sync_client(sim) as client:
        client.messages.create(**ask(QUESTION))
        client.messages.create(**ask(QUESTION))
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.create(**ask(QUESTION))
        wait_ms = int(caught.value.response.headers["retry-after-ms"])
        assert 1 <= wait_ms <= 300  # the rest of the simulated minute
        with sync_client(sim, max_retries=3) as patient:
            assert patient.messages.create(**ask(QUESTION)).stop_reason == "end_turn"
    assert [r.status for r in sim.ledger][:3] == [200, 200, 429]


@pytest.mark.anyio
async def test_concurrent_async_clients_share_the_limit_and_retry() -> None:
    sim = Simulator(limits=RateLimits(max_concurrency=2, retry_after_s=0.5))
    async with async_client(sim, max_retries=10) as client:
        answers = await asyncio.gather(
            *(client.messages.create(**ask(f"{QUESTION} {i}")) for i in range(5))
        )
    assert len(answers) == 5
    rejected = [r for r in sim.ledger if r.status == 429]
    assert rejected, "five at once against two slots must be turned away at first"
    assert sum(r.retry_count for r in sim.ledger if r.status == 200) == len(rejected)
    assert sim.in_flight == 0


def test_rate_limited_over_raw_http(server: RunningServer) -> None:
    server.simulator.limits = RateLimits(requests_per_minute=1)
    with httpx2.Client(base_url=server.url) as http:
        first = http.post("/v1/messages", json=ask(QUESTION), headers=HEADERS)
        second = http.post("/v1/messages", json=ask(QUESTION), headers=HEADERS)
    assert first.status_code == 200 and second.status_code == 429
    assert second.json()["error"]["type"] == "rate_limit_error"
    assert int(second.headers["retry-after-ms"]) > 0


# --- validation of the knobs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_limit": 1.5},
        {"overloaded": -0.1},
        {"rate_limit": 0.6, "overloaded": 0.6},
        {"stream_error": 0.7, "disconnect": 0.7},
        {"retry_after_s": -1},
        {"retry_after_s": float("nan")},
        {"batch_expired": float("nan")},
    ],
)
def test_invalid_faults_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Faults(**kwargs)  # type: ignore[arg-type]


def test_faults_parse_the_cli_form() -> None:
    assert Faults.parse("rate_limit=0.1, overloaded=0.05,seed=3") == Faults(
        rate_limit=0.1, overloaded=0.05, seed=3
    )
    assert Faults.parse("") == Faults()
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.parse("typo=0.1")
    with pytest.raises(ValueError):
        Faults.parse("rate_limit=lots")


@pytest.mark.parametrize(
    "kwargs", [{"max_concurrency": 0}, {"requests_per_minute": 0}, {"retry_after_s": -1.0}]
)
def test_invalid_rate_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimits(**kwargs)  # type: ignore[arg-type]


# --- the client's own timeout -------------------------------------------------------------------


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_a_short_sdk_timeout_fires_like_over_a_socket(way: str) -> None:
    """In-process as over HTTP: a body later than the read timeout is an APITimeoutError."""
    sim = Simulator()
    with (
        config.time_scale_set_to(0.2),
        sync_sdk(sim, way, timeout=0.02) as client,
        pytest.raises(anthropic.APITimeoutError),
    ):
        client.messages.create(**ask(QUESTION))  # ~1 simulated s = 0.2 real s
    record = sim.ledger[-1]
    assert record.status == 200 and record.generated_tokens == record.planned_output_tokens
    with config.time_scale_set_to(0.0), sync_sdk(sim, way, timeout=0.02) as client:
        assert client.messages.create(**ask(QUESTION)).stop_reason == "end_turn"


@pytest.mark.anyio
async def test_a_short_sdk_timeout_fires_async() -> None:
    sim = Simulator()
    with config.time_scale_set_to(0.2):
        async with async_client(sim, timeout=0.02) as client:
            with pytest.raises(anthropic.APITimeoutError):
                await client.messages.create(**ask(QUESTION))
    assert sim.in_flight == 0
