"""After a crash: put the jobs of dead workers back to work, now.

When a worker dies, its jobs are still in Redis, in one of two places:

- the **started** registry, if the job was running: RQ's maintenance notices it
  once the job's heartbeat expires (a minute or more after the crash) and retries
  the job if it has retries left, or moves it to the failed registry
  (`AbandonedJobError`);
- the queue's **intermediate** list, if the worker had just taken the job and
  not started it yet: RQ notices it after a minute and fails (or retries) it.

RQ does this on its own, in the maintenance its workers run every 10 minutes by
default. `recover()` does the same
at once - what you would run at the start of a restarted process that knows its
previous workers are gone. It must not run while a live worker works on the same
queue: it would take that worker's running job for abandoned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from rq.intermediate_queue import IntermediateQueue
from rq.job import JobStatus
from rq.utils import current_timestamp

from .connection import get_queue

__all__ = ["Recovery", "recover"]

AS_IF_LATER_S = 24 * 3600
"""`recover` treats every started job as if its worker's heartbeat expired this long ago."""


@dataclass
class Recovery:
    """What `recover` found: jobs put back in their queue, and jobs moved to failed."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.requeued)} requeued, {len(self.failed)} moved to the failed registry"


def recover(queues: str | Sequence[str], *, connection: redis.Redis | None = None) -> Recovery:
    """Requeue (or fail, if no retry is left) the jobs abandoned by dead workers on `queues`."""
    names = [queues] if isinstance(queues, str) else list(queues)
    report = Recovery()
    for name in names:
        queue = get_queue(name, connection=connection)
        # 1. started by a worker that died: RQ's own cleanup, as if the heartbeat had expired
        registry = queue.started_job_registry
        abandoned = registry.get_job_ids(cleanup=False)
        registry.cleanup(timestamp=current_timestamp() + AS_IF_LATER_S)
        # 2. taken from the queue but never started: nothing ran, so run it again. This
        # also catches a job whose worker died after registering it as started but before
        # marking it so: RQ's cleanup skips a job that is not STARTED, and drops it from
        # the registry, which would leave it QUEUED in no queue until RQ's own sweep.
        intermediate = IntermediateQueue(queue.key, connection=queue.connection)
        waiting = set(queue.get_job_ids())
        for job_id in intermediate.get_job_ids():
            job = queue.fetch_job(job_id)
            intermediate.remove(job_id)
            if job is not None and job.get_status() == JobStatus.QUEUED and job_id not in waiting:
                queue.enqueue_job(job)
                report.requeued.append(job_id)
        for job_id in abandoned:
            job = queue.fetch_job(job_id)
            if job is None or job_id in report.requeued:
                continue
            status = job.get_status()
            if status == JobStatus.FAILED:
                report.failed.append(job_id)
            elif status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
                report.requeued.append(job_id)
    return report
