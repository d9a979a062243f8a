"""Durable job functions for notebook 08, its tests and the chaos run.

They live in a module because RQ refuses job functions defined in `__main__`
(a notebook cell), and real `rq worker` processes must be able to import them.

`pipeline_job` is a multi-step AI workflow in miniature: each step does some
simulated work (`clock.sleep`) and returns a small JSON result; after the step
named `notify_after` it sends one notification through `run.once()` to an
`Outbox` that deduplicates by idempotency key. Every execution of a step is
counted in Redis (`executions(job_id)`), so a test or a notebook cell can prove
which steps ran again after a crash.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from .. import clock
from .audit import AuditTrail
from .keys import PREFIX, attempts_key
from .outbox import Outbox
from .run import DurableRun, code_version

__all__ = [
    "DEFAULT_STEPS",
    "STEP_S",
    "UpstreamError",
    "always_fails_job",
    "executions",
    "naive_pipeline_job",
    "pipeline_job",
]

DEFAULT_STEPS: tuple[str, ...] = ("search", "read", "summarize", "write")
STEP_S = 20.0
"""Simulated seconds of work per step (0.2 real s at the default time scale)."""


class UpstreamError(RuntimeError):
    """A dependency that keeps failing (the step that always fails)."""


def _executions_key(job_id: str) -> str:
    return f"{PREFIX}:{job_id}:demo-executions"


def executions(job_id: str, connection: redis.Redis) -> dict[str, int]:
    """How many times each step of `job_id` has *started* executing, across attempts."""
    raw: Any = connection.hgetall(_executions_key(job_id))
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


def _work(run: DurableRun, name: str, sim_s: float, fail_attempts: int) -> dict[str, Any]:
    # Counted on the run's connection *before* the work: a killed worker is cut off from
    # Redis, so it cannot count a step it never starts.
    run.connection.hincrby(_executions_key(run.job_id), name, 1)
    clock.sleep(sim_s)
    if run.attempt <= fail_attempts:
        raise UpstreamError(f"{name}: upstream returned 503 (attempt {run.attempt})")
    return {"step": name, "version": code_version(), "attempt": run.attempt}


def _notify(outbox: Outbox, key: str, job_id: str, text: str) -> bool:
    return outbox.send(key, {"job": job_id, "text": text})


def pipeline_job(
    steps: Sequence[str] = DEFAULT_STEPS,
    step_s: float = STEP_S,
    notify_after: str | None = "write",
    fail: Mapping[str, int] | None = None,
    outbox: str = "notifications",
    durations: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """A durable multi-step job: one checkpoint per step, one notification, an audit trail.

    Each step takes `step_s` simulated seconds, or `durations[name]`. `fail` maps a
    step name to the number of attempts on which it raises `UpstreamError` (a big
    number: a step that always fails).
    """
    fail = dict(fail or {})
    durations = dict(durations or {})
    with DurableRun.current() as run:
        results = []
        for name in steps:
            sim_s = durations.get(name, step_s)
            results.append(run.step(name, _work, run, name, sim_s, fail.get(name, 0)))
            if name == notify_after:
                run.once(
                    "notify",
                    _notify,
                    Outbox(outbox, run.connection),
                    run.key("notify"),
                    run.job_id,
                    f"your report is ready ({len(results)} steps)",
                )
        return {"steps": results, "attempt": run.attempt}


def naive_pipeline_job(
    steps: Sequence[str] = DEFAULT_STEPS,
    step_s: float = STEP_S,
    outbox: str = "notifications",
) -> dict[str, Any]:
    """The same pipeline without checkpoints: every attempt starts again from step one.

    It also notifies without an idempotency key, as code that never expected to run
    twice does. It keeps an audit trail (logging is not durability), so that its
    re-executed steps can be counted exactly as for `pipeline_job`. The contrast.
    """
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        raise RuntimeError("naive_pipeline_job runs as an RQ job")
    connection = job.connection
    trail = AuditTrail(job.id, connection)
    attempt = int(connection.incr(attempts_key(job.id)))
    trail.append("run", "", attempt, "started")
    results = []
    for name in steps:
        started = time.time()
        trail.append("step", name, attempt, "started", start=started)
        connection.hincrby(_executions_key(job.id), name, 1)
        clock.sleep(step_s)
        results.append({"step": name, "version": code_version()})
        trail.append("step", name, attempt, "done", start=started, end=time.time())
    Outbox(outbox, connection).send(
        f"{job.id}:notify:{secrets.token_hex(4)}", {"job": job.id, "text": "your report is ready"}
    )
    trail.append("run", "", attempt, "finished")
    return {"steps": results}


def always_fails_job(step_s: float = STEP_S) -> dict[str, Any]:
    """Two steps; the second always fails: RQ retries it, then gives up (FailedJobRegistry)."""
    return pipeline_job(("search", "fetch"), step_s, notify_after=None, fail={"fetch": 1_000_000})
