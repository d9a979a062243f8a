"""Explicit retries: what is retried, how long it waits, and the budget that stops it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
import tenacity

from stream_or_queue import client, config
from stream_or_queue.batch import RetryBudget, is_retryable, retry_after_s, retrying
from stream_or_queue.batch.retries import WaitRetryAfterOrJitter
from stream_or_queue.simulator import Faults, Simulator, reset_default_simulator

PARAMS: dict[str, Any] = {
    "model": config.FAST_MODEL,
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Say hello"}],
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    config.set_time_scale(0.0)
    yield reset_default_simulator(Simulator(seed=2))
    reset_default_simulator()


def _error(sim: Simulator, faults: Faults) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as info:
        client(simulator=sim, faults=faults, max_retries=0).messages.create(**PARAMS)
    return info.value


def test_retryable_follows_the_sdk_rule(sim: Simulator) -> None:
    assert is_retryable(_error(sim, Faults(rate_limit=1.0)))
    assert is_retryable(_error(sim, Faults(overloaded=1.0)))
    assert is_retryable(_error(sim, Faults(server_error=1.0)))
    with pytest.raises(anthropic.BadRequestError) as info:
        client(simulator=sim, max_retries=0).messages.create(**{**PARAMS, "max_tokens": 0})
    assert not is_retryable(info.value)
    assert not is_retryable(ValueError("not an API error"))


def test_retry_after_is_read_back_in_simulated_seconds(sim: Simulator) -> None:
    config.set_time_scale(0.01)
    error = _error(sim, Faults(rate_limit=1.0, retry_after_s=7.0))
    assert retry_after_s(error) == pytest.approx(7.0, rel=0.01)
    assert retry_after_s(ValueError()) is None


def test_wait_is_jittered_capped_and_never_shorter_than_retry_after() -> None:
    wait = WaitRetryAfterOrJitter(base_s=1.0, cap_s=8.0, rng=random.Random(0))
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    waits = []
    for attempt in range(1, 9):
        state.attempt_number = attempt
        state.outcome = tenacity.Future(attempt)
        state.outcome.set_exception(RuntimeError("boom"))
        waits.append(wait(state))
    assert all(0 <= w <= min(8.0, 2 ** (i)) for i, w in enumerate(waits))
    assert len(set(waits)) == len(waits)  # jitter: no two clients wait the same


def test_wait_honours_retry_after(sim: Simulator) -> None:
    config.set_time_scale(0.01)
    error = _error(sim, Faults(rate_limit=1.0, retry_after_s=30.0))
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    state.attempt_number = 1
    state.outcome = tenacity.Future(1)
    state.outcome.set_exception(error)
    assert WaitRetryAfterOrJitter(base_s=1.0, cap_s=8.0)(state) >= 29.9


def test_retrying_recovers_from_transient_errors_and_stops_on_permanent_ones() -> None:
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise anthropic.APIConnectionError(request=_request())
        return "ok"

    for attempt in retrying(attempts=5, base_s=0.0):
        with attempt:
            result = flaky()
    assert result == "ok" and calls["n"] == 3

    calls["n"] = 0

    def broken() -> str:
        calls["n"] += 1
        raise ValueError("a bug, not a blip")

    with pytest.raises(ValueError):
        for attempt in retrying(attempts=5, base_s=0.0):
            with attempt:
                broken()
    assert calls["n"] == 1


def test_budget_allows_a_floor_plus_a_ratio_then_denies() -> None:
    budget = RetryBudget(ratio=0.1, minimum=2)
    budget.record_first_attempt(30)
    assert budget.allowed == 5
    assert [budget.try_spend() for _ in range(7)] == [True] * 5 + [False] * 2
    assert budget.denied == 2
    with pytest.raises(ValueError):
        RetryBudget(ratio=-1)


def test_an_exhausted_budget_stops_retrying_without_wasting_attempts() -> None:
    budget = RetryBudget(ratio=0.0, minimum=1)
    calls = {"n": 0}

    def always_down() -> None:
        calls["n"] += 1
        raise anthropic.APIConnectionError(request=_request())

    with pytest.raises(anthropic.APIConnectionError):
        for attempt in retrying(attempts=10, base_s=0.0, budget=budget):
            with attempt:
                always_down()
    assert calls["n"] == 2  # the first try and the one retry the budget allowed
    assert budget.spent == 1 and budget.denied == 1


def test_async_retrying_backs_off_with_bounded_jittered_waits() -> None:
    import asyncio

    from stream_or_queue.batch import async_retrying

    config.set_time_scale(0.0)
    calls = {"n": 0}
    waits: list[float] = []

    def note(state: tenacity.RetryCallState) -> None:
        assert state.next_action is not None
        waits.append(state.next_action.sleep)

    async def main() -> None:
        async for attempt in async_retrying(
            attempts=4, base_s=4.0, cap_s=4.0, rng=random.Random(1), on_retry=note
        ):
            with attempt:
                calls["n"] += 1
                if calls["n"] < 4:
                    raise anthropic.APIConnectionError(request=_request())

    asyncio.run(main())
    assert calls["n"] == 4
    assert len(waits) == 3 and all(0 <= w <= 4.0 for w in waits) and len(set(waits)) == 3


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "http://simulator.local/v1/messages")
