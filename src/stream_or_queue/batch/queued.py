"""Queued work with a concurrency cap: RQ's `RateLimit` in front of the API.

When items are jobs on a queue, the cap has to hold across every worker on every
machine, which an in-process semaphore cannot do. RQ 3.0's `RateLimit(key,
concurrency)` keeps at most `concurrency` jobs with the same key queued or
running at once; the others wait in a `rate_limited` state and are promoted as
slots free up. Start as many workers as you like: the API still sees at most
`concurrency` requests at a time. `Retry(max=...)` re-runs a job that failed
after the SDK's own retries gave up, and a job id derived from the `custom_id`
makes enqueueing the same item twice a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from rq import Queue, RateLimit, Retry
from rq.job import Job, JobStatus

from .. import clock
from ..jobs import ThreadWorker
from ..llm import client as make_client
from .catalogue import Item
from .ledger import Ledger
from .progress import Progress
from .runners import message_text

__all__ = [
    "RATE_LIMIT_KEY",
    "collect_jobs",
    "describe_job",
    "enqueue_items",
    "follow_job",
    "job_id_for",
    "start_workers",
    "stop_workers",
]

RATE_LIMIT_KEY = "anthropic-messages"
"""One key for every job that calls the Messages API: one shared cap."""


def job_id_for(custom_id: str) -> str:
    return f"item-{custom_id}"


def describe_job(custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """RQ job: one Messages call. Importable, as RQ requires; returns plain data."""
    with make_client() as api:
        message = api.messages.create(**params)
    return {
        "custom_id": custom_id,
        "text": message_text(message),
        "usage": {
            "input_tokens": message.usage.input_tokens,
            "output_tokens": message.usage.output_tokens,
        },
    }


def enqueue_items(
    queue: Queue,
    items: Sequence[Item],
    *,
    concurrency: int,
    retries: int = 2,
    ledger: Ledger | None = None,
) -> list[Job]:
    """Enqueue one job per item behind `RateLimit(RATE_LIMIT_KEY, concurrency)`.

    An item whose job already exists is not enqueued again (idempotency by
    custom_id); the existing job is returned in its place.
    """
    limit = RateLimit(RATE_LIMIT_KEY, concurrency)
    retry = Retry(max=retries) if retries else None
    jobs: list[Job] = []
    for item in items:
        job_id = job_id_for(item.custom_id)
        # RQ's `unique=True` is not available together with a rate limit, so check first.
        # (Two producers racing on the same id could still both enqueue; the ledger then
        # keeps one result and counts the other as a duplicate.)
        if Job.exists(job_id, connection=queue.connection):
            jobs.append(Job.fetch(job_id, connection=queue.connection))
            continue
        jobs.append(
            queue.enqueue(
                describe_job,
                item.custom_id,
                item.params,
                job_id=job_id,
                rate_limit=limit,
                retry=retry,
                result_ttl=3600,
            )
        )
        if ledger is not None:
            ledger.attempt(item.custom_id)
    return jobs


def collect_jobs(
    jobs: Sequence[Job],
    ledger: Ledger,
    *,
    connection: redis.Redis,
    poll_every_s: float = 1.0,
    timeout_s: float = 3600.0,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Wait (simulated seconds) until every job finished or failed; record the outcomes.

    Returns the count per final status. A job that failed after its retries is
    recorded as failed in the ledger with the error it died of.
    """
    waiting = {job.id for job in jobs}
    custom_ids = {job.id: job.args[0] for job in jobs}
    statuses: dict[str, int] = {}
    for _ in range(int(timeout_s / poll_every_s) + 1):
        fetched = Job.fetch_many(sorted(waiting), connection=connection)
        for job in fetched:
            if job is None:
                continue
            status = job.get_status(refresh=False)
            if status not in (JobStatus.FINISHED, JobStatus.FAILED):
                continue
            waiting.discard(job.id)
            statuses[status.value] = statuses.get(status.value, 0) + 1
            custom_id = custom_ids[job.id]
            ledger.attempt(custom_id, max(0, (job.number_of_retries or 0)))
            if status == JobStatus.FINISHED:
                result: dict[str, Any] = job.return_value() or {}
                ledger.succeed(custom_id, result["text"], result["usage"], via="queued")
            else:
                ledger.fail(custom_id, _job_error(job), final=True)
        if progress is not None:
            progress.set(len(jobs) - len(waiting))
        if not waiting:
            if progress is not None:
                progress.close()
            return statuses
        clock.sleep(poll_every_s)
    raise TimeoutError(f"{len(waiting)} jobs still unfinished after {timeout_s:,.0f} simulated s")


def _job_error(job: Job) -> str:
    result = job.latest_result()
    text = getattr(result, "exc_string", "") or ""
    last = text.strip().splitlines()[-1] if text.strip() else "failed"
    return last[:200]


def start_workers(queue_name: str, count: int) -> list[ThreadWorker]:
    """`count` in-process RQ workers on `queue_name` (more workers than the cap, on purpose)."""
    return [ThreadWorker([queue_name]).start() for _ in range(count)]


def stop_workers(workers: Sequence[ThreadWorker]) -> None:
    """Stop workers in parallel: each takes up to a second to notice, so not one by one."""
    if not workers:
        return
    with ThreadPoolExecutor(len(workers)) as pool:
        list(pool.map(lambda worker: worker.stop(), workers))


def follow_job(
    job: Job,
    *,
    progress: Progress | None = None,
    poll_every_s: float = 60.0,
    timeout_s: float = 7 * 24 * 3600.0,
) -> Any:
    """Wait for one job (simulated seconds between looks), mirroring its meta progress.

    The job reports `meta["done"]` and `meta["total"]`; a total that grows (a retry
    round) moves the end of the bar out. Returns the job's return value; a failed
    job raises RuntimeError with the error it died of.
    """
    for _ in range(int(timeout_s / poll_every_s) + 1):
        status = job.get_status(refresh=True)
        job.refresh()
        if progress is not None:
            total = int(job.meta.get("total", progress.total))
            if total > progress.total:
                progress.grow(total - progress.total)
            progress.set(int(job.meta.get("done", 0)))
        if status == JobStatus.FINISHED:
            if progress is not None:
                progress.close()
            return job.return_value()
        if status == JobStatus.FAILED:
            raise RuntimeError(f"job {job.id} failed: {_job_error(job)}")
        clock.sleep(poll_every_s)
    raise TimeoutError(f"job {job.id} still running after {timeout_s:,.0f} simulated s")
