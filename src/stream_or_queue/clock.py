"""Simulated time: the course's minutes and hours, played back in seconds, or not at all.

Every duration the course talks about is in *simulated* seconds. Two clocks carry them:

- **The time scale** (the default): `config.time_scale()` says how many real seconds one
  simulated second takes, so a 90 s agent runs in under a second. Figures read from it
  are wall-clock readings divided by the scale: CPU load stretches them a little.
- **A simulated timeline** (`with clock.simulated():`): a clock that moves only when the
  code waits. `sleep`/`asleep` and the simulator's scheduled waits (first token, the gap
  before each token, a plain call's answer) advance it by exactly their length and
  return at once; `now()`, `Stopwatch` and so the streaming figures read it. What a
  cell *measures* runs here: its figures are exact and the same on every machine.
  `pace` also plays the waits back on the wall clock (a ChatBox a person watches), while
  the figures stay on the timeline.

A timeline follows one line of execution: sequential sync code, and asyncio code
awaiting one thing at a time (tasks created inside share it, so `await task` is fine).
It does not model concurrency: two tasks waiting on it at once, or a thread that got
hold of it, raise `TimelineError` instead of adding their waits up wrongly. Threads
started inside do not see it (context variables are per thread) and keep the time
scale. See docs/ARCHITECTURE.md, "Simulated timelines".
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import config

__all__ = [
    "Stopwatch",
    "Timeline",
    "TimelineError",
    "asleep",
    "now",
    "simulated",
    "sleep",
    "timeline",
    "to_real",
    "to_sim",
]


class TimelineError(RuntimeError):
    """A simulated timeline was used in a way it cannot model exactly (concurrent waits)."""


class Timeline:
    """A simulated clock that moves only when the code on it waits.

    `now` starts at `start` and only grows: `advance_to(t)` moves it to `t` (never
    back), `sleep(d)` / `asleep(d)` move it by `d`. With `pace` > 0, each wait also
    lasts `pace` real seconds per simulated second, measured from the timeline's start
    (so time spent computing is absorbed, not added, and playback does not drift).
    An async wait interrupted by cancellation leaves `now` where it was: on a timeline,
    the interruption happened before the wait ended.
    """

    def __init__(self, *, start: float = 0.0, pace: float = 0.0) -> None:
        config.check_time_scale(pace)
        self._now = float(start)
        self._origin = self._now
        self.pace = float(pace)
        self._real_origin = time.perf_counter()
        self.thread = threading.get_ident()
        self._waiter: object | None = None

    def __repr__(self) -> str:
        return f"Timeline(now={self._now:g}, pace={self.pace:g})"

    @property
    def now(self) -> float:
        """Simulated seconds on this timeline."""
        return self._now

    def _check(self) -> None:
        """Refuse what the timeline cannot model: another thread, or a wait that overlaps
        another task's wait."""
        if threading.get_ident() != self.thread:
            raise TimelineError(
                "a simulated timeline advances only in the thread that opened it; open one "
                "in the thread itself (`with clock.simulated():` inside it)"
            )
        waiter = self._waiter
        if waiter is not None and waiter is not _current_task():
            raise TimelineError(
                "two tasks wait on one simulated timeline at the same time: a timeline "
                "models one line of execution. Await them one after the other, or give each "
                "task its own timeline (`with clock.simulated():` inside the task)."
            )

    def advance_to(self, when: float) -> None:
        """Move the clock to `when` (a time already passed leaves it where it is)."""
        self._check()
        if when > self._now:
            self._now = when

    def _real_deadline(self, when: float) -> float:
        return self._real_origin + (when - self._origin) * self.pace

    def sleep_until(self, when: float) -> None:
        """Wait (sync) until the timeline reaches `when`."""
        self._check()
        if self.pace > 0:
            wait = self._real_deadline(when) - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        self.advance_to(when)

    async def asleep_until(self, when: float) -> None:
        """Wait (async) until the timeline reaches `when`, letting other tasks run."""
        self._check()
        self._waiter = _current_task()
        try:
            wait = self._real_deadline(when) - time.perf_counter() if self.pace > 0 else 0.0
            await asyncio.sleep(max(wait, 0.0))  # always yield: Stop buttons, other cells
            self.advance_to(when)
        finally:
            self._waiter = None

    def sleep(self, seconds: float) -> None:
        self.sleep_until(self._now + max(seconds, 0.0))

    async def asleep(self, seconds: float) -> None:
        await self.asleep_until(self._now + max(seconds, 0.0))


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread: plain sync code
        return None


_timeline: contextvars.ContextVar[Timeline | None] = contextvars.ContextVar(
    "stream_or_queue_timeline", default=None
)


def timeline() -> Timeline | None:
    """The simulated timeline of the current context, or None (the time scale applies)."""
    return _timeline.get()


@contextlib.contextmanager
def simulated(*, start: float = 0.0, pace: float = 0.0) -> Iterator[Timeline]:
    """Run a block on a fresh simulated timeline (works in sync and async code alike).

    >>> with clock.simulated() as t:
    ...     stats = measure_stream(client, ...)  # no real waiting; exact TTFT and total
    >>> t.now  # simulated seconds the block waited

    Tasks created inside share the timeline; threads do not see it. Nested blocks get
    their own timeline, which ends with the block. `pace` > 0 also plays the waits back
    at that many real seconds per simulated second, for a person to watch.
    """
    line = Timeline(start=start, pace=pace)
    token = _timeline.set(line)
    try:
        yield line
    finally:
        _timeline.reset(token)


def to_real(sim_seconds: float) -> float:
    """Real seconds that `sim_seconds` of simulated time take (on a timeline: its pace)."""
    line = _timeline.get()
    return sim_seconds * (line.pace if line is not None else config.time_scale())


def to_sim(real_seconds: float) -> float:
    """Simulated seconds that `real_seconds` of wall-clock time stand for (at the time scale)."""
    scale = config.time_scale()
    return real_seconds / scale if scale > 0 else 0.0


def sleep(sim_seconds: float) -> None:
    """Block for `sim_seconds` of simulated time (on a timeline: advance it, no real wait)."""
    line = _timeline.get()
    if line is not None:
        line.sleep(sim_seconds)
    elif sim_seconds > 0:
        time.sleep(to_real(sim_seconds))


async def asleep(sim_seconds: float) -> None:
    """Await `sim_seconds` of simulated time (the async twin of `sleep`)."""
    line = _timeline.get()
    if line is not None:
        await line.asleep(sim_seconds)
    else:
        await asyncio.sleep(to_real(sim_seconds) if sim_seconds > 0 else 0)


def now() -> float:
    """A monotonic clock in simulated seconds (only differences are meaningful)."""
    line = _timeline.get()
    if line is not None:
        return line.now
    return to_sim(time.perf_counter())


@dataclass
class Stopwatch:
    """Measures simulated seconds: on the current timeline if there is one, else the wall
    clock divided by the time scale.

    >>> watch = Stopwatch()
    >>> ...  # work
    >>> watch.elapsed  # simulated seconds since the watch started
    """

    scale: float = field(default_factory=config.time_scale)
    started: float = field(default_factory=time.perf_counter)
    line: Timeline | None = field(default_factory=timeline)
    """The timeline the watch reads (the one current when it started), or None."""
    started_at: float = field(init=False, default=0.0)
    """The timeline's `now` when the watch started."""

    def __post_init__(self) -> None:
        self.started_at = self.line.now if self.line is not None else 0.0

    @property
    def elapsed_real(self) -> float:
        """Wall-clock seconds since the start (for overhead figures, never for lessons)."""
        return time.perf_counter() - self.started

    @property
    def elapsed(self) -> float:
        """Simulated seconds since the start (timeline, or the scale the watch started with)."""
        if self.line is not None:
            return self.line.now - self.started_at
        return self.elapsed_real / self.scale if self.scale > 0 else 0.0

    def restart(self) -> None:
        """Start counting again from now."""
        self.started = time.perf_counter()
        self.started_at = self.line.now if self.line is not None else 0.0
