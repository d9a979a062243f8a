"""Structured progress events of a job, kept in one Redis stream per job.

Why a Redis stream and not a message on a channel: a stream keeps every event
with an id that only grows (`1716000000000-0`). That id is the SSE event id, so
a browser that reconnects with `Last-Event-ID` is sent exactly the events after
it - none lost, none repeated - even if the web process restarted in between.
A pub/sub message on one channel only says "job X has news", so that waiting
streams wake up at once instead of polling Redis.

An event is a JSON object: `step` (queued, planning, searching, reading,
noting, writing, then one terminal step: finished, failed or canceled),
`percent` (0-100, an estimate), `message` (text for a person), `ts` (Unix
time it was written) and anything else the writer adds (`result` on the
finished event, `delta` text while writing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from .. import config

__all__ = [
    "EVENTS_CHANNEL",
    "TERMINAL_STEPS",
    "EventHub",
    "ProgressEvent",
    "aread_events",
    "as_text",
    "events_key",
    "last_event",
    "publish",
    "publish_terminal",
    "read_events",
    "valid_event_id",
]

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "soq:web:events"
_RESUBSCRIBE_FIRST_S = 0.2
_RESUBSCRIBE_MAX_S = 2.0
TERMINAL_STEPS = frozenset({"finished", "failed", "canceled"})
_EVENT_ID = re.compile(r"\d{1,20}-\d{1,20}")


def events_key(job_id: str) -> str:
    return f"soq:web:events:{job_id}"


def _ended_key(job_id: str) -> str:
    return f"soq:web:ended:{job_id}"


def valid_event_id(value: str | None) -> bool:
    """True for a Redis stream id; anything else is ignored as a Last-Event-ID."""
    return bool(value) and _EVENT_ID.fullmatch(value or "") is not None


@dataclass(frozen=True)
class ProgressEvent:
    """One event as stored: its stream id and its JSON payload."""

    id: str
    data: dict[str, Any]

    @property
    def step(self) -> str:
        return str(self.data.get("step", ""))

    @property
    def percent(self) -> int:
        return int(self.data.get("percent", 0))

    @property
    def message(self) -> str:
        return str(self.data.get("message", ""))

    @property
    def terminal(self) -> bool:
        return self.step in TERMINAL_STEPS

    @classmethod
    def from_entry(cls, entry: tuple[Any, Mapping[Any, Any]]) -> ProgressEvent:
        raw_id, fields = entry
        raw = fields.get(b"data", fields.get("data", b"{}"))
        return cls(as_text(raw_id), json.loads(raw))


def as_text(value: Any) -> str:
    """Redis answers bytes (or str with decode_responses): always a str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def publish(
    connection: redis.Redis,
    job_id: str,
    step: str,
    percent: float,
    message: str,
    **extra: Any,
) -> str:
    """Append one event to the job's stream and wake its watchers; returns the event id."""
    payload = {
        "step": step,
        "percent": max(0, min(100, round(percent))),
        "message": message,
        "ts": time.time(),
        **extra,
    }
    key = events_key(job_id)
    with connection.pipeline(transaction=True) as pipe:
        pipe.xadd(key, {"data": json.dumps(payload)})
        pipe.expire(key, config.WEB_RESULT_TTL_S)
        pipe.publish(EVENTS_CHANNEL, job_id)
        event_id = pipe.execute()[0]
    return as_text(event_id)


def publish_terminal(
    connection: redis.Redis, job_id: str, step: str, message: str, **extra: Any
) -> bool:
    """Write the job's one terminal event (finished, failed or canceled).

    The first writer wins (`SET NX`): a job that finishes while a user cancels
    it, or a stream that notices a crashed worker, cannot end a job twice.
    Returns True if this call wrote it.
    """
    if step not in TERMINAL_STEPS:
        raise ValueError(f"terminal step must be one of {sorted(TERMINAL_STEPS)}, got {step!r}")
    if not connection.set(_ended_key(job_id), step, nx=True, ex=config.WEB_RESULT_TTL_S):
        return False
    publish(connection, job_id, step, 100, message, **extra)
    return True


def read_events(
    connection: redis.Redis, job_id: str, after: str | None = None
) -> list[ProgressEvent]:
    """Every event after `after` (an event id), oldest first; all of them without one."""
    start = f"({after}" if valid_event_id(after) else "-"
    entries: Any = connection.xrange(events_key(job_id), start, "+")
    return [ProgressEvent.from_entry(e) for e in entries]


async def aread_events(
    connection: redis.asyncio.Redis, job_id: str, after: str | None = None
) -> list[ProgressEvent]:
    """The async twin of `read_events`."""
    start = f"({after}" if valid_event_id(after) else "-"
    entries: Any = await connection.xrange(events_key(job_id), start, "+")
    return [ProgressEvent.from_entry(e) for e in entries]


def last_event(connection: redis.Redis, job_id: str) -> ProgressEvent | None:
    """The newest event of a job, or None before the first."""
    entries: Any = connection.xrevrange(events_key(job_id), "+", "-", count=1)
    return ProgressEvent.from_entry(entries[0]) if entries else None


class EventHub:
    """One Redis subscription per web process, waking the event streams that wait.

    Each open SSE response registers an `asyncio.Event` for its job; a message on
    `EVENTS_CHANNEL` sets the events of that job. If the subscription fails,
    streams still notice new events through their periodic status check, and the
    hub subscribes again (waking every stream once, in case it missed an event).
    """

    def __init__(self, connection: redis.asyncio.Redis) -> None:
        self.connection = connection
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.lost = False
        """True while the subscription is down (Redis unreachable)."""
        self._failures = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="soq-event-hub")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 5.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever `job_id` publishes; unregistered on exit."""
        waiter = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[job_id]

    @property
    def watching(self) -> int:
        """How many streams wait right now (open SSE responses)."""
        return sum(len(w) for w in self._waiters.values())

    async def _listen(self) -> None:
        """Subscribe, and subscribe again after Redis went away (a restart, a network cut)."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the subscription is lost; the streams' checks still run
                if self._failures == 0:  # one line per outage, not one per retry
                    log.warning("event hub: subscription lost (%s); resubscribing", exc)
            finally:
                self.lost = True
                self._ready.set()
            self._wake_all()  # a stream may have missed an event while we were away
            await asyncio.sleep(min(_RESUBSCRIBE_FIRST_S * 2**self._failures, _RESUBSCRIBE_MAX_S))
            self._failures += 1

    async def _listen_once(self) -> None:
        pubsub = self.connection.pubsub()
        try:
            await pubsub.subscribe(EVENTS_CHANNEL)
            self._ready.set()
            if self.lost:
                log.warning("event hub: subscribed again")
                self._wake_all()
            self.lost = False
            self._failures = 0
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                for waiter in tuple(self._waiters.get(as_text(message["data"]), ())):
                    waiter.set()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _wake_all(self) -> None:
        for waiters in tuple(self._waiters.values()):
            for waiter in tuple(waiters):
                waiter.set()
