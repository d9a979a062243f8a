"""The client side of start-then-poll: a polling client with backoff, and an SSE client.

Both talk to the service's API with an `httpx2` client whose `base_url` is the
service. Waits are in simulated seconds (`clock`), like every duration of the
course.

- `poll_job` asks `GET /jobs/{id}` until the job ends, waiting longer after
  each poll (`backoff_delays`): quick feedback at first, few requests later.
- `follow_events` reads `GET /jobs/{id}/events` and, when the connection is
  cut (an edge timeout, a network change), reconnects with `Last-Event-ID`
  so that it misses nothing and sees nothing twice.

`afollow_events` is the async twin of `follow_events`.

`poll_moments` and `sse_connections` are the same two clients as arithmetic
over a job's schedule (when it ends, in simulated seconds): what each costs in
requests and how late it notices the end, exact, for tables over many jobs.
A test runs the real clients against the service and checks they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2

from .. import clock

__all__ = [
    "EventLog",
    "PollResult",
    "SseFollow",
    "afollow_events",
    "backoff_delays",
    "event_data",
    "follow_events",
    "poll_job",
    "poll_moments",
    "sse_connections",
]

TERMINAL = frozenset({"finished", "failed", "canceled"})
_CUT = (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.ConnectError, httpx2.ReadTimeout)


def backoff_delays(
    first_s: float = 1.0, factor: float = 2.0, max_s: float = 15.0
) -> Iterator[float]:
    """first, first*factor, ... capped at max_s (simulated seconds), forever."""
    if first_s <= 0 or factor < 1 or max_s < first_s:
        raise ValueError("need first_s > 0, factor >= 1 and max_s >= first_s")
    delay = first_s
    while True:
        yield delay
        delay = min(delay * factor, max_s)


def poll_moments(
    ends_at_s: float, *, first_s: float = 1.0, factor: float = 2.0, max_s: float = 15.0
) -> list[float]:
    """When a `poll_job` client asks about a job that ends `ends_at_s` after its first poll.

    The last moment is the first poll at or after the end: the one that sees it.
    So the client sends `len(...)` requests and notices the end `[-1] - ends_at_s` late.
    """
    if ends_at_s < 0:
        raise ValueError(f"ends_at_s must be >= 0, got {ends_at_s}")
    moments = [0.0]
    for delay in backoff_delays(first_s, factor, max_s):
        if moments[-1] >= ends_at_s:
            return moments
        moments.append(moments[-1] + delay)
    raise AssertionError("unreachable: backoff_delays never ends")  # pragma: no cover


@dataclass(frozen=True)
class SseFollow:
    """How a `follow_events` client follows a job, computed from when the job ends."""

    connections: int
    """Requests made: one, plus one per cut."""
    noticed_at_s: float
    """When the terminal event reached the client (from its first connection)."""
    open_s: float
    """Seconds its responses were held open, summed."""

    @property
    def cuts(self) -> int:
        return self.connections - 1


def sse_connections(
    ends_at_s: float, *, edge_s: float | None = None, retry_s: float = 0.0
) -> SseFollow:
    """A `follow_events` client on a job that ends `ends_at_s` after it connects.

    The terminal event arrives as soon as it is written. An edge with a duration
    limit `edge_s` cuts each connection after `edge_s`; the client reconnects
    `retry_s` later (the service's `retry:` hint) and resumes after the last
    event it saw, so it misses nothing; an end written while it was away is sent
    at once when it is back.
    """
    if ends_at_s < 0 or retry_s < 0 or (edge_s is not None and edge_s <= 0):
        raise ValueError("need ends_at_s >= 0, retry_s >= 0 and edge_s > 0 (or None)")
    opened, connections, open_s = 0.0, 1, 0.0
    while edge_s is not None and ends_at_s > opened + edge_s:
        open_s += edge_s
        opened += edge_s + retry_s
        connections += 1
    noticed = max(ends_at_s, opened)
    return SseFollow(connections, noticed, open_s + noticed - opened)


@dataclass
class PollResult:
    """How a polling client saw a job end."""

    status: str
    view: dict[str, Any]
    polls: int


def poll_job(
    client: httpx2.Client,
    job_id: str,
    *,
    first_s: float = 1.0,
    factor: float = 2.0,
    max_s: float = 15.0,
    timeout_s: float = 1_800.0,
    sleep: Callable[[float], None] = clock.sleep,
) -> PollResult:
    """Poll `GET /jobs/{id}` with backoff until the job ends (or `timeout_s` passes)."""
    watch = clock.Stopwatch()
    delays = backoff_delays(first_s, factor, max_s)
    polls = 0
    while True:
        response = client.get(f"/jobs/{job_id}")
        polls += 1
        response.raise_for_status()
        view = response.json()
        if view["status"] in TERMINAL:
            return PollResult(view["status"], view, polls)
        if watch.elapsed > timeout_s:
            raise TimeoutError(f"job {job_id} still {view['status']} after {timeout_s:g} sim s")
        sleep(next(delays))


def event_data(event: httpx2.ServerSentEvent) -> dict[str, Any]:
    """An event's JSON data; every event of the service's streams carries an object."""
    data = event.json()
    if not isinstance(data, dict):
        raise ValueError(f"event {event.event!r} does not carry a JSON object: {event.data!r}")
    return data


@dataclass
class EventLog:
    """Every event an SSE client received, and how many connections that took."""

    job_id: str
    events: list[httpx2.ServerSentEvent] = field(default_factory=list)
    connections: int = 0
    last_event_id: str | None = None

    @property
    def status(self) -> str | None:
        """The job's final status, once the terminal event has arrived."""
        if self.events and self.events[-1].event == "done":
            return str(event_data(self.events[-1])["step"])
        return None

    @property
    def steps(self) -> list[str]:
        return [str(event_data(e)["step"]) for e in self.events]

    def record(self, event: httpx2.ServerSentEvent) -> bool:
        """Keep `event` and its id (where a reconnection resumes); True once the job ended."""
        self.events.append(event)
        if event.id:
            self.last_event_id = event.id
        return event.event == "done"


def _headers(last_event_id: str | None) -> dict[str, str]:
    return {
        "Accept": "text/event-stream",
        **({"Last-Event-ID": last_event_id} if last_event_id else {}),
    }


def follow_events(
    client: httpx2.Client,
    job_id: str,
    *,
    last_event_id: str | None = None,
    max_connections: int = 50,
    stop_after: int | None = None,
) -> EventLog:
    """Read a job's events to the end, reconnecting with Last-Event-ID after a cut.

    `stop_after=n` hangs up after n events (to show a reattach); `max_connections`
    bounds the reconnections.
    """
    log = EventLog(job_id, last_event_id=last_event_id)
    retry_ms = 0
    while log.connections < max_connections:
        log.connections += 1
        try:
            with client.stream(
                "GET", f"/jobs/{job_id}/events", headers=_headers(log.last_event_id)
            ) as response:
                response.raise_for_status()
                for event in httpx2.EventSource(response):
                    retry_ms = event.retry if event.retry is not None else retry_ms
                    ended = log.record(event)
                    if ended or (stop_after is not None and len(log.events) >= stop_after):
                        return log
        except _CUT:
            pass  # cut mid-stream: reconnect below, from the last id seen
        # the hint is in the service's time, which runs on the simulated clock
        clock.sleep(retry_ms / 1000)
    raise ConnectionError(f"gave up on job {job_id}'s events after {max_connections} connections")


async def afollow_events(
    client: httpx2.AsyncClient,
    job_id: str,
    *,
    last_event_id: str | None = None,
    max_connections: int = 50,
    stop_after: int | None = None,
) -> EventLog:
    """The async twin of `follow_events`."""
    log = EventLog(job_id, last_event_id=last_event_id)
    retry_ms = 0
    while log.connections < max_connections:
        log.connections += 1
        try:
            async with client.stream(
                "GET", f"/jobs/{job_id}/events", headers=_headers(log.last_event_id)
            ) as response:
                response.raise_for_status()
                async for event in httpx2.EventSource(response):
                    retry_ms = event.retry if event.retry is not None else retry_ms
                    ended = log.record(event)
                    if ended or (stop_after is not None and len(log.events) >= stop_after):
                        return log
        except _CUT:
            pass
        await clock.asleep(retry_ms / 1000)
    raise ConnectionError(f"gave up on job {job_id}'s events after {max_connections} connections")
