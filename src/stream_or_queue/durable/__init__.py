"""Durable execution: DBOS Transact for real work, and the course's own RQ-based model.

On DBOS (import the submodules; they are not re-exported here, so importing this
package does not pull DBOS in):
`memo` - step memoization in one screen (the mechanism, for the lesson and its lab);
`engine` - DBOS configured from `config` (`launch`/`alaunch`/`shutdown`/`client`,
SQLite file by default, `$DBOS_DATABASE_URL` for Postgres);
`pipeline` - the course's workflow (steps, progress events and stream, one
notification keyed by workflow id); `ledger` - what really ran, for counting;
`naive` - the same pipeline with no engine (the contrast); `worker` - worker
processes (`--import` adds workflows), `kill()`, `take_over`, `fork_onto`;
`history` - the audit trail from DBOS's record, as rows and a timeline;
`postgres_server` - a private PostgreSQL for tests and benchmarks.

The RQ + Redis model below predates them; the lessons no longer use it, and it stays
only while `research.job` (the RQ job of the v1/v2 comparisons), lab 08 and the
capstone lab still import it.

Durable execution on RQ + Redis: checkpointed steps, once-only side effects, an audit trail.

Durable-execution engines (Temporal, Inngest, Trigger.dev) make a long workflow
survive crashes, deploys and retries by *step memoization*: each named step's
result is stored as soon as it finishes; when the workflow runs again, the code
runs from the top but finished steps return their stored result instead of
running. This package builds that model on what the course already has: RQ
re-runs the job (a `Retry`, or the abandoned-job cleanup after a worker died) and
Redis stores the checkpoints, keyed by job id and step name.

Inside an RQ job (enqueue it with `retry=Retry(max=3)`: every crash or failure
uses one retry; `enqueue_at_front=True` resumes interrupted work before new work):

    from stream_or_queue.durable import DurableRun

    def research_job(question: str) -> dict:
        with DurableRun.current() as run:                       # attempt 1, 2, ... audited
            plan = run.step("plan", make_plan, question)        # runs once per job
            notes = [run.step(f"tool-{i}", call_tool, c) for i, c in enumerate(plan)]
            answer = run.step("write", write_answer, notes)
            run.once("notify", send_email, run.key("notify"), answer)   # once per job
            return answer

Public API
----------
`DurableRun(job_id, connection=None, *, worker="", retries_left=None, version=None)`
    One execution (attempt) of a durable job; `DurableRun.current()` inside an RQ job.
    `.step(name, fn, *args, **kw)` / `await .astep(...)`: memoized step (JSON result).
    `.once(name, fn, *args, **kw)` / `await .aonce(...)`: side effect done once per job;
    `.key(name)`: its idempotency key, to pass to the receiver.
    `.attempt`, `.completed_steps()`, `.checkpoints` (CheckpointStore), `.audit` (AuditTrail).
    As a context manager it records `run finished`, or `failed` / `gave-up` with the error.
`CheckpointStore(job_id, connection)`: `get/put/repair/steps/corrupt/clear`.
`CheckpointCorrupted`: a checkpoint that cannot be trusted (audited; the step runs again).
`AuditTrail(job_id, connection)`: `append/read` on a Redis stream; `audit_trail(job_id)`
    reads one; `spans(events)` pairs starts and ends (unfinished = `crashed`);
    `summarize(events)` counts attempts, skipped steps, finished steps re-executed;
    `trail_table(events)` prints it.
`Outbox(name, connection)`: a receiver that keeps one message per idempotency key.
Crash and recovery (demos, tests, chaos), on `stream_or_queue.jobs` workers (threads on
    fakeredis, `rq worker` processes on a real Redis; `kill()` is a crash):
    `WorkerFleet(size, queues)` (`start/kill/busy_worker/recover/stop/deploy`),
    `recover_abandoned(queue, dead_workers)` (RQ's StartedJobRegistry cleanup, now),
    `wait_until(predicate, timeout_s)`, `worker_name(worker)`.
`timeline(events)`: the audit trail as a Gantt chart (matplotlib).
Demo jobs: `stream_or_queue.durable.demo.pipeline_job`, `always_fails_job`,
    `naive_pipeline_job` (no checkpoints, for contrast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .audit import (
        AuditEvent,
        AuditTrail,
        RunSummary,
        Span,
        audit_trail,
        spans,
        summarize,
        trail_table,
    )
    from .checkpoints import CheckpointCorrupted, CheckpointStore
    from .keys import run_keys
    from .outbox import Outbox
    from .run import CODE_VERSION_ENV, DurableRun, code_version
    from .timeline import timeline
    from .workers import AnyWorker, WorkerFleet, recover_abandoned, wait_until, worker_name

_LAZY = {
    "AnyWorker": "workers",
    "AuditEvent": "audit",
    "AuditTrail": "audit",
    "CODE_VERSION_ENV": "run",
    "CheckpointCorrupted": "checkpoints",
    "CheckpointStore": "checkpoints",
    "DurableRun": "run",
    "Outbox": "outbox",
    "RunSummary": "audit",
    "Span": "audit",
    "WorkerFleet": "workers",
    "audit_trail": "audit",
    "code_version": "run",
    "recover_abandoned": "workers",
    "run_keys": "keys",
    "spans": "audit",
    "summarize": "audit",
    "timeline": "timeline",
    "trail_table": "audit",
    "wait_until": "workers",
    "worker_name": "workers",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: `durable.memo` or `durable.naive` in a fresh process does not
    # pay for RQ and Redis (nor `durable.worker` for them on top of DBOS).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CODE_VERSION_ENV",
    "AnyWorker",
    "AuditEvent",
    "AuditTrail",
    "CheckpointCorrupted",
    "CheckpointStore",
    "DurableRun",
    "Outbox",
    "RunSummary",
    "Span",
    "WorkerFleet",
    "audit_trail",
    "code_version",
    "recover_abandoned",
    "run_keys",
    "spans",
    "summarize",
    "timeline",
    "trail_table",
    "wait_until",
    "worker_name",
]
