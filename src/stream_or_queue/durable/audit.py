"""The audit trail: an append-only record, per job, of what ran, when, and how it ended.

Each run writes to a Redis STREAM (`XADD`): streams are append-only, ordered, and
every entry gets a server-assigned id, which is exactly what an audit trail needs.
An entry has the fields

    kind     run | step | once | checkpoint
    name     the step or side-effect name ("" for the run itself)
    attempt  1 for the first execution of the job, 2 after the first retry, ...
    outcome  started | done | skipped | failed | corrupt | uncertain | finished
    start    wall-clock start (Unix seconds)
    end      wall-clock end ("" while started)
    error    "ExceptionType: message" when something went wrong
    worker   the RQ worker that ran it
    version  the code version that ran it (SOQ_CODE_VERSION, to see a deploy)

A step that was running when its worker died has a `started` entry and no end:
`spans()` turns such a step into a span whose outcome is `crashed`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from .. import config
from .keys import audit_key, check_job_id

__all__ = [
    "AuditEvent",
    "AuditTrail",
    "RunSummary",
    "Span",
    "audit_trail",
    "spans",
    "summarize",
    "trail_table",
]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


FIELDS = ("kind", "name", "attempt", "outcome", "start", "end", "error", "worker", "version")


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the audit trail."""

    id: str
    kind: str
    name: str
    attempt: int
    outcome: str
    start: float
    end: float | None
    error: str = ""
    worker: str = ""
    version: str = ""

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: Mapping[Any, Any]) -> AuditEvent:
        data = {_text(k): _text(v) for k, v in fields.items()}
        end = data.get("end", "")
        return cls(
            id=_text(entry_id),
            kind=data.get("kind", ""),
            name=data.get("name", ""),
            attempt=int(data.get("attempt", "0") or 0),
            outcome=data.get("outcome", ""),
            start=float(data.get("start", "0") or 0),
            end=float(end) if end else None,
            error=data.get("error", ""),
            worker=data.get("worker", ""),
            version=data.get("version", ""),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "start": self.start,
            "end": self.end,
            "error": self.error,
            "worker": self.worker,
            "version": self.version,
        }


@dataclass
class AuditTrail:
    """Append to and read the audit trail of one job."""

    job_id: str
    connection: redis.Redis

    def __post_init__(self) -> None:
        check_job_id(self.job_id)
        self.key = audit_key(self.job_id)

    def append(
        self,
        kind: str,
        name: str,
        attempt: int,
        outcome: str,
        *,
        start: float | None = None,
        end: float | None = None,
        error: str = "",
        worker: str = "",
        version: str = "",
    ) -> str:
        """XADD one entry; returns its stream id."""
        entry = {
            "kind": kind,
            "name": name,
            "attempt": str(attempt),
            "outcome": outcome,
            "start": repr(time.time() if start is None else start),
            "end": "" if end is None else repr(end),
            "error": error[:2000],
            "worker": worker,
            "version": version,
        }
        with self.connection.pipeline() as pipe:
            pipe.xadd(self.key, entry)  # type: ignore[arg-type]
            pipe.expire(self.key, config.DURABLE_KEY_TTL_S)
            entry_id, _ = pipe.execute()
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def read(self, count: int | None = None) -> list[AuditEvent]:
        """Every entry, oldest first (or the first `count`)."""
        entries: Any = self.connection.xrange(self.key, count=count)
        return [AuditEvent.from_entry(i, f) for i, f in entries]

    def __len__(self) -> int:
        return int(self.connection.xlen(self.key))


def audit_trail(job_id: str, connection: redis.Redis | None = None) -> list[AuditEvent]:
    """The audit trail of `job_id`, oldest first."""
    if connection is None:
        from ..jobs import get_redis

        connection = get_redis()
    return AuditTrail(job_id, connection).read()


@dataclass(frozen=True)
class Span:
    """A bar of the timeline: one step (or side effect) in one attempt."""

    name: str
    attempt: int
    start: float
    end: float
    outcome: str
    worker: str = ""
    version: str = ""
    error: str = ""


def spans(events: Iterable[AuditEvent], now: float | None = None) -> list[Span]:
    """Pair `started` and end entries into spans; a start without an end is `crashed`.

    A crashed span ends when the crash was noticed: the `run abandoned` entry that
    recovery writes, else the first entry of a later attempt, else `now` (default:
    the last entry's time).
    """
    events = list(events)
    result: list[Span] = []
    open_: dict[tuple[str, str, int], AuditEvent] = {}
    for event in events:
        if event.kind not in ("step", "once"):
            continue
        key = (event.kind, event.name, event.attempt)
        if event.outcome == "started":
            open_[key] = event
            continue
        opened = open_.pop(key, None)
        start = opened.start if opened is not None else event.start
        end = event.end if event.end is not None else event.start
        result.append(
            Span(
                event.name,
                event.attempt,
                start,
                end,
                event.outcome,
                event.worker,
                event.version,
                event.error,
            )
        )
    last = max((e.end or e.start for e in events), default=time.time())
    for (_, name, attempt), event in open_.items():
        later = [
            e.end or e.start
            for e in events
            if e.start >= event.start
            and (e.attempt > attempt or (e.kind == "run" and e.outcome == "abandoned"))
        ]
        end = min(later) if later else (now if now is not None else last)
        result.append(
            Span(
                name,
                attempt,
                event.start,
                max(end, event.start),
                "crashed",
                event.worker,
                event.version,
            )
        )
    return sorted(result, key=lambda s: (s.start, s.attempt))


@dataclass
class RunSummary:
    """What happened to one durable run, counted from its audit trail."""

    attempts: int = 0
    steps_done: int = 0
    steps_skipped: int = 0
    finished_steps_reexecuted: int = 0
    interrupted_steps: int = 0
    corrupt_checkpoints: int = 0
    failed_steps: int = 0
    side_effects: int = 0
    finished: bool = False
    errors: list[str] = field(default_factory=list)


def summarize(events: Iterable[AuditEvent]) -> RunSummary:
    """Count attempts, executed and skipped steps, and re-executions of finished steps.

    A *finished step re-executed* is a step that started again after it had been
    checkpointed (`done`) - the waste durable execution exists to prevent. A step
    re-run because its checkpoint was corrupted is counted in `corrupt_checkpoints`
    instead: that re-run is deliberate, and the trail says why. An *interrupted step* is one
    that was running when its worker died: its partial work is the only work a
    crash can cost.
    """
    events = list(events)
    summary = RunSummary()
    done: set[str] = set()
    for event in events:
        summary.attempts = max(summary.attempts, event.attempt)
        if event.kind == "run" and event.outcome == "finished":
            summary.finished = True
        if event.kind == "checkpoint" and event.outcome == "corrupt":
            summary.corrupt_checkpoints += 1
            done.discard(event.name)
        if event.kind == "step":
            if event.outcome == "started" and event.name in done:
                summary.finished_steps_reexecuted += 1
            elif event.outcome == "done":
                summary.steps_done += 1
                done.add(event.name)
            elif event.outcome == "skipped":
                summary.steps_skipped += 1
            elif event.outcome == "failed":
                summary.failed_steps += 1
        if event.kind == "once" and event.outcome == "done":
            summary.side_effects += 1
        if event.error:
            summary.errors.append(event.error)
    summary.interrupted_steps = sum(1 for s in spans(events) if s.outcome == "crashed")
    return summary


def trail_table(
    events: Iterable[AuditEvent],
    fields: tuple[str, ...] = ("attempt", "kind", "name", "outcome", "error"),
    *,
    width: int = 90,
) -> str:
    """The trail as an aligned text table (no times or worker names by default: stable)."""
    rows = [
        [str(event.as_dict()[f] if event.as_dict()[f] is not None else "") for f in fields]
        for event in events
    ]
    widths = [max([len(f), *(len(r[i]) for r in rows)]) for i, f in enumerate(fields)]
    lines = ["  ".join(f.ljust(w) for f, w in zip(fields, widths, strict=True)).rstrip()]
    for row in rows:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        lines.append(line if len(line) <= width else line[: width - 3] + "...")
    return "\n".join(lines)
