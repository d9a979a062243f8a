"""clock: simulated seconds <-> real seconds at the current time scale, and simulated
timelines that move only when the code waits.

Sleeps are checked only from below (a sleep never returns early), never for
being fast: no timed assertions. On a timeline, "no real waiting" is checked by
making `time.sleep` fail, not by timing.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
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


def test_time_scale_zero_means_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with config.time_scale_set_to(0.0):
        assert clock.to_real(3600.0) == 0.0
        assert clock.to_sim(5.0) == 0.0
        clock.sleep(3600.0)
        asyncio.run(clock.asleep(3600.0))
        watch = clock.Stopwatch()
        assert watch.elapsed == 0.0
    assert all(s == 0 for s in slept), "an hour of simulated time asks for no real wait"


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


# --- simulated timelines ---------------------------------------------------------------------


def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make any wall-clock sleep fail the test; return the async sleeps asked for."""
    asked: list[float] = []
    real_asleep = asyncio.sleep

    def forbidden(seconds: float) -> None:
        raise AssertionError(f"time.sleep({seconds}) on a simulated timeline")

    async def recorded(seconds: float) -> None:
        asked.append(seconds)
        await real_asleep(0)

    monkeypatch.setattr(time, "sleep", forbidden)
    monkeypatch.setattr(asyncio, "sleep", recorded)
    return asked


def test_a_timeline_moves_exactly_by_the_waits_and_never_sleeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = _no_real_sleep(monkeypatch)
    assert clock.timeline() is None
    with clock.simulated() as line:
        assert clock.timeline() is line and clock.now() == 0.0
        watch = clock.Stopwatch()
        clock.sleep(90.0)
        clock.sleep(-5.0)  # a negative wait is no wait, as on the wall clock
        assert clock.now() == 90.0 and watch.elapsed == 90.0
        asyncio.run(clock.asleep(3600.0))
        assert line.now == 3690.0 and watch.elapsed == 3690.0
        watch.restart()
        assert watch.elapsed == 0.0
        assert clock.to_real(3600.0) == 0.0, "no pace: no real seconds"
    assert asked == [0], "the async wait only yields to the loop"
    assert clock.timeline() is None, "the timeline ends with the block"


def test_a_watch_keeps_reading_its_own_timeline() -> None:
    with clock.simulated() as line:
        watch = clock.Stopwatch()
        clock.sleep(2.0)
    assert watch.line is line and watch.elapsed == 2.0  # read after the block: still 2.0
    with clock.simulated(start=100.0) as inner:
        clock.sleep(1.0)
        assert inner.now == 101.0 and watch.elapsed == 2.0


def test_nested_timelines_are_independent() -> None:
    with clock.simulated() as outer:
        clock.sleep(5.0)
        with clock.simulated() as inner:
            clock.sleep(1.0)
            assert clock.now() == 1.0
        assert clock.timeline() is outer and outer.now == 5.0 and inner.now == 1.0


def test_advance_to_never_goes_back() -> None:
    line = clock.Timeline(start=10.0)
    line.advance_to(4.0)
    assert line.now == 10.0
    line.sleep_until(12.5)
    assert line.now == 12.5


def test_a_paced_timeline_waits_on_the_wall_clock_and_reports_the_timeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wall = [1000.0]
    slept: list[float] = []
    monkeypatch.setattr(time, "perf_counter", lambda: wall[0])

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        wall[0] += seconds

    monkeypatch.setattr(time, "sleep", sleep)
    with clock.simulated(pace=0.5) as line:
        clock.sleep(2.0)
        assert line.now == 2.0 and clock.to_real(2.0) == 1.0
        wall[0] += 0.25  # time spent computing between two waits is absorbed, not added
        clock.sleep(2.0)
        assert line.now == 4.0
    assert slept == [1.0, 0.75]


def test_tasks_awaited_one_after_the_other_share_the_timeline() -> None:
    async def step(seconds: float) -> float:
        await clock.asleep(seconds)
        return clock.now()

    async def main() -> list[float]:
        with clock.simulated():
            return [await asyncio.create_task(step(s)) for s in (1.0, 2.0, 3.0)]

    assert asyncio.run(main()) == [1.0, 3.0, 6.0]


def test_concurrent_waits_on_one_timeline_are_refused() -> None:
    async def main() -> None:
        with clock.simulated():
            await asyncio.gather(clock.asleep(1.0), clock.asleep(1.0))

    with pytest.raises(clock.TimelineError, match="two tasks wait on one simulated timeline"):
        asyncio.run(main())


def test_per_task_timelines_are_the_way_to_run_tasks_concurrently() -> None:
    async def task(seconds: float) -> float:
        with clock.simulated() as line:
            await clock.asleep(seconds)
            return line.now

    async def main() -> list[float]:
        return list(await asyncio.gather(task(1.0), task(2.0)))

    assert asyncio.run(main()) == [1.0, 2.0]


def test_a_cancelled_wait_leaves_the_timeline_where_it_was() -> None:
    async def main() -> float:
        with clock.simulated(pace=1.0) as line:
            clock.sleep(0.0)
            waiting = asyncio.create_task(clock.asleep(60.0))
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            return line.now

    assert asyncio.run(main()) == 0.0


def test_threads_do_not_see_a_timeline_and_cannot_advance_one() -> None:
    seen: list[object] = []
    errors: list[BaseException] = []
    with clock.simulated() as line:
        plain = threading.Thread(target=lambda: seen.append(clock.timeline()))
        plain.start()
        plain.join()

        def advance() -> None:
            try:
                line.sleep(1.0)
            except clock.TimelineError as exc:
                errors.append(exc)

        context = contextvars.copy_context()  # how asyncio.to_thread would hand it over
        handed = threading.Thread(target=context.run, args=(advance,))
        handed.start()
        handed.join()
    assert seen == [None], "a thread started inside keeps the time scale"
    assert len(errors) == 1 and "thread that opened it" in str(errors[0])
    assert line.now == 0.0


def test_a_bad_pace_is_refused() -> None:
    with pytest.raises(ValueError), clock.simulated(pace=-1.0):
        pass
