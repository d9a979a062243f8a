"""Chaos run: many durable jobs, workers killed at random, and what it cost.

`run_chaos()` enqueues `jobs` copies of a multi-step pipeline on a fleet of
workers, then - at seeded random moments (exponential gaps, mean `kill_every_s`) -
kills a busy worker, hands its job back to RQ (`WorkerFleet.recover`) and starts
a replacement. When every job has ended (or `timeout_s` is over) it counts:

* completed, lost (failed: out of retries) and unfinished jobs;
* step executions beyond the minimum (`jobs x steps`): work a crash made us redo;
* from the audit trails: finished steps re-executed (the waste checkpoints
  prevent) and interrupted steps (a step a crash cut short);
* notifications delivered and duplicates.

`durable=False` runs the same pipeline without checkpoints or idempotency keys
(`naive_pipeline_job`), for contrast. The kill moments are seeded; which job a
kill hits depends on thread and process timing, so figures vary a little between
runs (they are wall-clock measurements).
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus

from .. import config
from ..jobs import get_redis, is_fake
from .audit import audit_trail, summarize
from .demo import DEFAULT_STEPS, executions, naive_pipeline_job, pipeline_job
from .outbox import Outbox
from .workers import WorkerFleet, worker_name

__all__ = ["ChaosResult", "run_chaos"]


@dataclass(frozen=True)
class ChaosResult:
    """What a chaos run did and what it cost."""

    mode: str
    backend: str
    jobs: int
    workers: int
    kills: int
    completed: int
    lost: int
    unfinished: int
    attempts: int
    steps_needed: int
    step_executions: int
    finished_steps_reexecuted: int
    interrupted_steps: int
    notifications: int
    duplicate_notifications: int
    wall_s: float

    @property
    def extra_step_executions(self) -> int:
        """Step executions beyond `jobs x steps`: the work crashes made us redo."""
        return self.step_executions - self.steps_needed

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "extra_step_executions": self.extra_step_executions}


def _busy(fleet: WorkerFleet, queue: Queue) -> list[Any]:
    """Live workers that are running a job right now."""
    job_ids = queue.started_job_registry.get_job_ids(cleanup=False)
    owners = {
        job.worker_name
        for job in Job.fetch_many(job_ids, connection=queue.connection)
        if job is not None
    }
    return sorted((w for w in fleet.alive() if worker_name(w) in owners), key=worker_name)


def run_chaos(
    *,
    jobs: int = 100,
    workers: int = 4,
    steps: tuple[str, ...] = DEFAULT_STEPS,
    step_s: float = 10.0,
    kill_every_s: float = 1.0,
    max_kills: int | None = None,
    retries: int = config.DURABLE_DEFAULT_RETRIES,
    seed: int = 0,
    durable: bool = True,
    connection: redis.Redis | None = None,
    timeout_s: float = 300.0,
) -> ChaosResult:
    """Run `jobs` pipelines on `workers` workers while killing busy workers at random.

    `kill_every_s` is the mean real-time gap between kills; `max_kills` caps them
    (with `max_kills <= retries` no job can run out of retries). Bounded by
    `timeout_s` real seconds.
    """
    if jobs < 1 or workers < 1 or kill_every_s <= 0 or timeout_s <= 0:
        raise ValueError("jobs, workers, kill_every_s and timeout_s must be positive")
    connection = connection or get_redis()
    rng = random.Random(seed)
    tag = secrets.token_hex(3)
    queue = Queue(f"chaos-{tag}", connection=connection)
    outbox = Outbox(f"chaos-{tag}", connection)
    fleet = WorkerFleet(workers, [queue.name], connection=connection).start()
    started = time.monotonic()
    kills = 0
    try:
        if durable:
            enqueued = [
                queue.enqueue(
                    pipeline_job,
                    steps,
                    step_s,
                    notify_after=steps[-1],
                    outbox=outbox.name,
                    retry=Retry(max=retries),
                )
                for _ in range(jobs)
            ]
        else:
            enqueued = [
                queue.enqueue(
                    naive_pipeline_job, steps, step_s, outbox=outbox.name, retry=Retry(max=retries)
                )
                for _ in range(jobs)
            ]
        deadline = started + timeout_s
        next_kill = started + rng.expovariate(1.0 / kill_every_s)
        while time.monotonic() < deadline:
            ended = queue.finished_job_registry.count + queue.failed_job_registry.count
            if ended >= jobs:
                break
            if time.monotonic() >= next_kill and (max_kills is None or kills < max_kills):
                busy = _busy(fleet, queue)
                if busy:
                    fleet.kill(rng.choice(busy))
                    kills += 1
                    fleet.recover()
                    fleet.start(wait=False)  # the replacement boots while the others work
                next_kill = time.monotonic() + rng.expovariate(1.0 / kill_every_s)
            time.sleep(0.02)
    finally:
        fleet.stop(grace_s=10.0)
        fleet.recover()  # nothing may stay "started" after the run
    wall_s = time.monotonic() - started

    statuses = [job.get_status(refresh=True) for job in enqueued]
    step_executions = sum(sum(executions(job.id, connection).values()) for job in enqueued)
    attempts = sum(
        retries - (Job.fetch(job.id, connection=connection).retries_left or 0) + 1
        for job in enqueued
    )
    summaries = [summarize(audit_trail(job.id, connection)) for job in enqueued]
    finished_reexecuted = sum(s.finished_steps_reexecuted for s in summaries)
    interrupted = sum(s.interrupted_steps for s in summaries)
    delivered = outbox.count()
    distinct = len({m["message"]["job"] for m in outbox.messages()})
    completed = statuses.count(JobStatus.FINISHED)
    return ChaosResult(
        mode="durable" if durable else "naive",
        backend="fakeredis, thread workers"
        if is_fake(connection)
        else "real Redis, rq worker processes",
        jobs=jobs,
        workers=workers,
        kills=kills,
        completed=completed,
        lost=statuses.count(JobStatus.FAILED),
        unfinished=jobs - completed - statuses.count(JobStatus.FAILED),
        attempts=attempts,
        steps_needed=jobs * len(steps),
        step_executions=step_executions,
        finished_steps_reexecuted=finished_reexecuted,
        interrupted_steps=interrupted,
        notifications=delivered,
        duplicate_notifications=delivered - distinct,
        wall_s=wall_s,
    )
