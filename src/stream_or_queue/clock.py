"""Simulated time: the course's minutes and hours, played back in seconds.

Every duration the course talks about is in *simulated* seconds. `config.time_scale()`
says how many real seconds one simulated second takes, so a 90 s agent can run in
under a second while its figures are still reported (and labelled) in simulated time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from . import config

__all__ = ["Stopwatch", "asleep", "now", "sleep", "to_real", "to_sim"]


def to_real(sim_seconds: float) -> float:
    """Real seconds that `sim_seconds` of simulated time take."""
    return sim_seconds * config.time_scale()


def to_sim(real_seconds: float) -> float:
    """Simulated seconds that `real_seconds` of wall-clock time stand for."""
    scale = config.time_scale()
    return real_seconds / scale if scale > 0 else 0.0


def sleep(sim_seconds: float) -> None:
    """Block for `sim_seconds` of simulated time."""
    if sim_seconds > 0:
        time.sleep(to_real(sim_seconds))


async def asleep(sim_seconds: float) -> None:
    """Await `sim_seconds` of simulated time (the async twin of `sleep`)."""
    await asyncio.sleep(to_real(sim_seconds) if sim_seconds > 0 else 0)


def now() -> float:
    """A monotonic clock in simulated seconds (only differences are meaningful)."""
    return to_sim(time.perf_counter())


@dataclass
class Stopwatch:
    """Measures wall-clock time and reports it in simulated seconds.

    >>> watch = Stopwatch()
    >>> ...  # work
    >>> watch.elapsed  # simulated seconds since the watch started
    """

    scale: float = field(default_factory=config.time_scale)
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_real(self) -> float:
        """Wall-clock seconds since the start (for overhead figures, never for lessons)."""
        return time.perf_counter() - self.started

    @property
    def elapsed(self) -> float:
        """Simulated seconds since the start, at the scale the watch started with."""
        return self.elapsed_real / self.scale if self.scale > 0 else 0.0

    def restart(self) -> None:
        """Start counting again from now."""
        self.started = time.perf_counter()
