"""clock: simulated seconds <-> real seconds at the current time scale.

Sleeps are checked only from below (a sleep never returns early), never for
being fast: no timed assertions.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from stream_or_queue import clock, config


@pytest.mark.parametrize("scale", [0.01, 0.5, 1.0, 2.0])
def test_conversions_are_inverse(scale: float) -> None:
    with config.time_scale_set_to(scale):
        assert clock.to_real(90.0) == pytest.approx(90.0 * scale)
        assert clock.to_sim(clock.to_real(90.0)) == pytest.approx(90.0)
        assert clock.to_real(0.0) == 0.0


def test_default_scale_turns_a_90_s_agent_into_under_a_second() -> None:
    assert clock.to_real(90.0) == pytest.approx(0.9)


def test_time_scale_zero_means_instant() -> None:
    with config.time_scale_set_to(0.0):
        assert clock.to_real(3600.0) == 0.0
        assert clock.to_sim(5.0) == 0.0
        started = time.perf_counter()
        clock.sleep(3600.0)
        asyncio.run(clock.asleep(3600.0))
        assert time.perf_counter() - started < 60, "an hour of simulated time took no real hour"
        watch = clock.Stopwatch()
        assert watch.elapsed == 0.0


def test_sleep_waits_at_least_the_scaled_time() -> None:
    with config.time_scale_set_to(0.01):
        started = time.perf_counter()
        clock.sleep(2.0)  # 20 ms
        assert time.perf_counter() - started >= 0.02


def test_asleep_waits_at_least_the_scaled_time() -> None:
    async def main() -> float:
        started = time.perf_counter()
        await clock.asleep(2.0)
        return time.perf_counter() - started

    with config.time_scale_set_to(0.01):
        assert asyncio.run(main()) >= 0.02 - 1e-3  # the loop's clock may round by a millisecond


@pytest.mark.parametrize("sim_s", [0.0, -1.0])
def test_non_positive_sleeps_return_at_once(sim_s: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real sleep at all (a negative one would raise), only a yield to the event loop."""
    slept: list[float] = []
    real_asleep = asyncio.sleep

    async def recorded_asleep(seconds: float) -> None:
        slept.append(seconds)
        await real_asleep(0)

    monkeypatch.setattr(clock.time, "sleep", slept.append)
    monkeypatch.setattr(clock.asyncio, "sleep", recorded_asleep)
    clock.sleep(sim_s)
    assert slept == [], "a non-positive sync sleep must not sleep"
    asyncio.run(clock.asleep(sim_s))
    assert slept == [0], "a non-positive async sleep only yields"


def test_stopwatch_reports_simulated_seconds() -> None:
    with config.time_scale_set_to(0.01):
        watch = clock.Stopwatch()
    assert watch.scale == 0.01, "the scale is fixed when the watch starts"
    time.sleep(0.03)
    assert watch.elapsed_real >= 0.03
    assert watch.elapsed >= 3.0
    half_a_second_ago = clock.Stopwatch(scale=0.01, started=time.perf_counter() - 0.5)
    assert half_a_second_ago.elapsed >= 50.0
    before = watch.started
    watch.restart()
    assert watch.started > before


def test_now_advances_in_simulated_seconds() -> None:
    with config.time_scale_set_to(0.01):
        before = clock.now()
        time.sleep(0.02)
        assert clock.now() - before >= 2.0
