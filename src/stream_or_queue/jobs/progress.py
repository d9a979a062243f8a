"""Progress of a running job, kept in the job's own `meta` in Redis.

A background job has no screen. Whoever wants to show its progress - a notebook
widget, a web page polling `GET /jobs/{id}`, an SSE stream - reads it from Redis,
so the job writes it there: `report_progress(40, "writing", "section 2 of 4")`
stores the latest `Progress` under `job.meta["progress"]` and appends a short entry
to `job.meta["progress_history"]`. Any job function can call it (the report, the
research assistant, the batch pipeline); outside a job (a plain function call, a
test) it does nothing, so the same function runs both ways. A job that keeps its
own schedule (`jobs.JobSchedule`) passes `at_s=`, the simulated seconds since
it started, so the history says exactly when each step began - the same on every
run, where the wall-clock `at` depends on how busy the machine was.

    from stream_or_queue.jobs import report_progress

    def my_job(items):
        for i, item in enumerate(items):
            report_progress(100 * i / len(items), "processing", f"item {i + 1} of {len(items)}")
            ...
        report_progress(100, "done")
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from rq import get_current_job
from rq.job import Job

__all__ = [
    "HISTORY_LIMIT",
    "Progress",
    "get_progress",
    "progress_history",
    "progress_timeline",
    "report_progress",
]

HISTORY_LIMIT = 100
"""`progress_history` keeps the latest this many entries (meta is rewritten on every report)."""

STEP_MAX_CHARS = 64
MESSAGE_MAX_CHARS = 500


@dataclass(frozen=True)
class Progress:
    """Where a job is: `percent` (0-100), a short machine-friendly `step`, a human `message`."""

    percent: float
    step: str
    message: str = ""
    at: float = 0.0
    """Unix time of the report (wall clock: the time a user would see)."""
    at_s: float | None = None
    """Simulated seconds since the job started, by its own schedule (None if not given)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        return cls(
            percent=float(data.get("percent", 0.0)),
            step=str(data.get("step", "")),
            message=str(data.get("message", "")),
            at=float(data.get("at", 0.0)),
            at_s=None if data.get("at_s") is None else float(data["at_s"]),
        )


def _check(percent: object, step: object, message: object) -> float:
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        raise TypeError(f"percent must be a number from 0 to 100, got {percent!r}")
    value = float(percent)
    if math.isnan(value) or not 0.0 <= value <= 100.0:
        raise ValueError(f"percent must be from 0 to 100, got {percent!r}")
    if not isinstance(step, str) or not step.strip() or len(step) > STEP_MAX_CHARS:
        raise ValueError(
            f"step must be a non-empty string of at most {STEP_MAX_CHARS} characters, got {step!r}"
        )
    if not isinstance(message, str) or len(message) > MESSAGE_MAX_CHARS:
        raise ValueError(f"message must be a string of at most {MESSAGE_MAX_CHARS} characters")
    return value


def report_progress(
    percent: float,
    step: str,
    message: str = "",
    *,
    at_s: float | None = None,
    job: Job | None = None,
) -> Progress | None:
    """Record the current job's progress in its meta; a no-op outside a job.

    `percent` is 0-100, `step` a short name ("searching", "writing"), `message` a
    sentence for people, `at_s` the simulated seconds since the job started by its
    own schedule. Returns what was stored, or None when not inside a job.
    Bad values raise at once (TypeError/ValueError), inside or outside a job, so a
    mistake shows up in the first plain test run rather than in a worker's log.
    """
    value = _check(percent, step, message)
    if at_s is not None and (
        isinstance(at_s, bool) or not isinstance(at_s, int | float) or not 0.0 <= at_s < math.inf
    ):
        raise ValueError(f"at_s must be a number of seconds >= 0, got {at_s!r}")
    job = job if job is not None else get_current_job()
    if job is None:
        return None
    at = None if at_s is None else round(float(at_s), 3)
    progress = Progress(round(value, 1), step.strip(), message, time.time(), at)
    history = list(job.meta.get("progress_history", []))
    history.append([progress.percent, progress.step] + ([] if at is None else [at]))
    job.meta["progress"] = progress.as_dict()
    job.meta["progress_history"] = history[-HISTORY_LIMIT:]
    job.save_meta()
    return progress


def get_progress(job: Job) -> Progress | None:
    """The latest progress `job` reported (read fresh from Redis), or None."""
    data = job.get_meta(refresh=True).get("progress")
    return Progress.from_dict(data) if isinstance(data, dict) else None


def progress_history(job: Job) -> list[tuple[float, str]]:
    """Every (percent, step) the job reported, oldest first (up to HISTORY_LIMIT)."""
    history = job.get_meta(refresh=True).get("progress_history", [])
    return [(float(entry[0]), str(entry[1])) for entry in history]


def progress_timeline(job: Job) -> list[tuple[float, float, str]]:
    """(at_s, percent, step) of every report that said when it happened, oldest first.

    `at_s` is the job's own simulated time (see `report_progress`), so the
    timeline is the same on every run of the same work.
    """
    history = job.get_meta(refresh=True).get("progress_history", [])
    return [(float(e[2]), float(e[0]), str(e[1])) for e in history if len(e) > 2]
