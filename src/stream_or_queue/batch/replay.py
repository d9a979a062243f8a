"""A concurrent run replayed on simulated time, from each answer's recorded schedule.

Played back on a scaled wall clock, a run of 500 concurrent requests measures the
machine as much as the design: Python's own time per call counts as simulated
seconds, and which request meets a full rate limit depends on how busy the CPU
was. Yet everything that decides the outcome is known in advance: the simulator
gives each answer a seeded duration (`RequestRecord.scheduled_total_s`, recorded
by a run at time scale 0), it refuses a request that arrives while `limit`
requests are in flight (429 with `retry-after`), and the SDK retries a refused
request `max_retries` times, after exactly the `retry-after` it was given.
`replay_concurrent` runs those rules as a discrete-event simulation, so the
figures (time to done, requests, 429s, failures) are exact and the same on every
machine. The client side is `run_concurrent` with `attempts=1`: items take an
`asyncio.Semaphore` slot in order (first come, first served) and hold it while
the SDK waits to retry.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Replay", "replay_concurrent"]

# At one instant, answers that end free their slots before new requests arrive:
# the request a finished answer lets through must find the API slot free too.
_ENDS, _ARRIVES = 0, 1


@dataclass(frozen=True)
class Replay:
    """What a concurrent run did, on simulated time."""

    items: int
    concurrency: int
    requests: int
    rate_limited: int
    succeeded: int
    failed: int
    seconds: float
    """Simulated seconds from the first request until the last item succeeded or failed."""
    peak: int
    """Most requests the API was serving at once."""

    @property
    def lost(self) -> int:
        """Items neither delivered nor reported failed when the run ended."""
        return self.items - self.succeeded - self.failed


def replay_concurrent(
    latencies_s: Sequence[float],
    *,
    concurrency: int,
    limit: int | None = None,
    retry_after_s: float = 1.0,
    max_retries: int = 2,
) -> Replay:
    """Replay items with these answer durations, `concurrency` at a time, against `limit`.

    `latencies_s[i]` is the simulated duration of item i's answer (the same whichever
    attempt gets through); items start in order as slots free up. A refused attempt
    is retried `retry_after_s` later, holding its slot, until `max_retries` retries
    are spent: then the item fails and frees its slot.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if limit is not None and limit < 1:
        raise ValueError("limit must be >= 1 (or None for no limit)")
    if retry_after_s < 0 or max_retries < 0:
        raise ValueError("retry_after_s and max_retries must be >= 0")
    run = _Run(list(latencies_s), limit, retry_after_s, max_retries)
    return run.play(concurrency)


@dataclass
class _Run:
    """The event queue and the counters of one replay."""

    latencies_s: list[float]
    limit: int | None
    retry_after_s: float
    max_retries: int
    in_flight: int = 0
    peak: int = 0
    requests: int = 0
    rate_limited: int = 0
    succeeded: int = 0
    failed: int = 0
    now: float = 0.0
    events: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    """(time, kind, order of scheduling, item, attempt), earliest first."""
    next_item: int = 0
    scheduled: int = 0

    def play(self, concurrency: int) -> Replay:
        for _ in range(min(concurrency, len(self.latencies_s))):
            self._start_next(0.0)
        while self.events:
            self.now, kind, _, item, attempt = heapq.heappop(self.events)
            if kind == _ENDS:
                self._end()
            else:
                self._arrive(item, attempt)
        return Replay(
            items=len(self.latencies_s),
            concurrency=concurrency,
            requests=self.requests,
            rate_limited=self.rate_limited,
            succeeded=self.succeeded,
            failed=self.failed,
            seconds=self.now,
            peak=self.peak,
        )

    def _schedule(self, when: float, kind: int, item: int, attempt: int = 0) -> None:
        heapq.heappush(self.events, (when, kind, self.scheduled, item, attempt))
        self.scheduled += 1

    def _start_next(self, when: float) -> None:
        """A semaphore slot is free: the next item in line sends its first attempt."""
        if self.next_item < len(self.latencies_s):
            self._schedule(when, _ARRIVES, self.next_item)
            self.next_item += 1

    def _arrive(self, item: int, attempt: int) -> None:
        """The simulator's rule: refuse a request that arrives with `limit` in flight."""
        self.requests += 1
        if self.limit is None or self.in_flight < self.limit:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self._schedule(self.now + self.latencies_s[item], _ENDS, item)
            return
        self.rate_limited += 1
        if attempt < self.max_retries:  # the SDK waits as told, holding the slot
            self._schedule(self.now + self.retry_after_s, _ARRIVES, item, attempt + 1)
        else:
            self.failed += 1
            self._start_next(self.now)

    def _end(self) -> None:
        self.in_flight -= 1
        self.succeeded += 1
        self._start_next(self.now)
