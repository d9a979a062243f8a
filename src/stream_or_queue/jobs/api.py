"""The jobs API a caller uses: enqueue with checked arguments, fetch by id, wait, list.

A web handler or a notebook calls `enqueue_report(...)` and gets a job id back in
milliseconds; anyone can later `fetch(job_id)` (a clear `JobNotFound` if there is
no such job), `describe(job)` it as a plain snapshot (status, progress, result or
error) or `list_jobs()` across RQ's registries - which is what the `JobBoard`
widget and the web service show.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimitRegistry

from .. import config
from .connection import DEFAULT_QUEUE, get_queue, get_redis
from .errors import InvalidJobArguments, JobNotFound
from .mail import check_address
from .notify import NOTIFY_EMAIL, notification_callbacks
from .progress import Progress
from .tasks import REPORT_SECTIONS, report_job

__all__ = [
    "TERMINAL_STATUSES",
    "JobView",
    "describe",
    "enqueue_report",
    "fetch",
    "list_jobs",
    "wait",
]

JOB_FAILURE_TTL_S = 7 * 24 * 3600
"""How long a failed job stays in the failed-job registry, in real seconds."""

TERMINAL_STATUSES = frozenset(
    {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
)
TOPIC_MAX_CHARS = 200
MAX_SECTIONS = 8


def _check_report_arguments(
    topic: object, sections: object, notify_email: object
) -> tuple[str, ...]:
    if not isinstance(topic, str) or not topic.strip():
        raise InvalidJobArguments(f"topic must be a non-empty string, got {topic!r}")
    if len(topic) > TOPIC_MAX_CHARS:
        raise InvalidJobArguments(
            f"topic must be at most {TOPIC_MAX_CHARS} characters, got {len(topic)}"
        )
    if isinstance(sections, str) or not isinstance(sections, Sequence):
        raise InvalidJobArguments(f"sections must be a list of section titles, got {sections!r}")
    titles = tuple(sections)
    if not 1 <= len(titles) <= MAX_SECTIONS:
        raise InvalidJobArguments(f"a report has 1 to {MAX_SECTIONS} sections, got {len(titles)}")
    for title in titles:
        if not isinstance(title, str) or not title.strip() or len(title) > 60:
            raise InvalidJobArguments(f"each section title must be 1-60 characters, got {title!r}")
    if notify_email is not None:
        try:
            check_address(notify_email)
        except ValueError as exc:
            raise InvalidJobArguments(f"notify_email: {exc}") from None
    return titles


def enqueue_report(
    topic: str,
    *,
    sections: Sequence[str] = REPORT_SECTIONS,
    notify_email: str | None = None,
    queue: Queue | None = None,
    retry: Retry | None = None,
    webhooks: Sequence[Any] | None = None,
) -> Job:
    """Check the arguments, then enqueue `tasks.report_job`; returns the RQ job.

    Bad arguments raise `InvalidJobArguments` here, before anything is queued.
    With `notify_email`, the user gets one email when the job finishes or fails.
    """
    titles = _check_report_arguments(topic, sections, notify_email)
    queue = queue if queue is not None else get_queue()
    meta: dict[str, Any] = {"title": f"report on {topic.strip()}"}
    if notify_email is not None:
        meta[NOTIFY_EMAIL] = notify_email
    return queue.enqueue(
        report_job,
        topic.strip(),
        titles,
        meta=meta,
        retry=retry,
        result_ttl=config.JOB_RESULT_TTL_S,
        failure_ttl=JOB_FAILURE_TTL_S,
        webhooks=list(webhooks) if webhooks else None,
        **notification_callbacks(),
    )


def fetch(job_id: str, *, connection: redis.Redis | None = None) -> Job:
    """The job with this id; `JobNotFound` (carrying the id) if there is none."""
    if not isinstance(job_id, str) or not job_id or len(job_id) > 200:
        raise JobNotFound(job_id)
    try:
        return Job.fetch(job_id, connection=connection if connection is not None else get_redis())
    except NoSuchJobError:
        raise JobNotFound(job_id) from None


def wait(
    job: Job | str,
    *,
    timeout: float = 30.0,
    poll: float = 0.02,
    connection: redis.Redis | None = None,
) -> Job:
    """Block until the job ended (finished, failed, stopped, canceled), at most `timeout` s.

    Real seconds: a notebook waits on purpose here, a web handler never should.
    """
    if isinstance(job, str):
        job = fetch(job, connection=connection)
    deadline = time.monotonic() + timeout
    while True:
        status = job.get_status(refresh=True)
        if status in TERMINAL_STATUSES:
            return job
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"job {job.id} is still {getattr(status, 'value', status)} after {timeout} s"
                " - is a worker running? "
                "(jobs.start_workers())"
            )
        time.sleep(poll)


@dataclass(frozen=True)
class JobView:
    """A plain snapshot of a job: what a board, a page or an API response shows."""

    id: str
    func: str
    status: str
    title: str
    progress: Progress | None
    result: Any
    error: str | None
    """The last line of the traceback of a failed job."""
    enqueued_at: float | None
    started_at: float | None
    ended_at: float | None
    retries_left: int | None

    @property
    def percent(self) -> float:
        if self.status == JobStatus.FINISHED:
            return 100.0
        return self.progress.percent if self.progress is not None else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["percent"] = self.percent
        return data


def _ts(value: Any) -> float | None:
    return value.timestamp() if value is not None else None


def describe(job: Job) -> JobView:
    """Read the job's current state from Redis into a `JobView`."""
    job.refresh()
    status = job.get_status(refresh=False)
    raw_progress = job.meta.get("progress")
    error = None
    if status == JobStatus.FAILED:
        latest = job.latest_result()
        exc = (latest.exc_string if latest is not None else None) or job.exc_info
        error = exc.strip().splitlines()[-1] if exc else "failed"
    func = job.func_name or "?"
    title = job.meta.get("title") or func.rpartition(".")[2].replace("_", " ")
    return JobView(
        id=job.id,
        func=func,
        status=str(status.value if hasattr(status, "value") else status),
        title=str(title),
        progress=Progress.from_dict(raw_progress) if isinstance(raw_progress, dict) else None,
        result=job.return_value() if status == JobStatus.FINISHED else None,
        error=error,
        enqueued_at=_ts(job.enqueued_at),
        started_at=_ts(job.started_at),
        ended_at=_ts(job.ended_at),
        retries_left=job.retries_left,
    )


def _registry_ids(queue: Queue) -> Iterable[str]:
    yield from queue.get_job_ids()
    for registry in (
        queue.started_job_registry,
        queue.scheduled_job_registry,
        queue.deferred_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.canceled_job_registry,
    ):
        yield from registry.get_job_ids(cleanup=False)  # reading must not change state


def list_jobs(
    queues: Sequence[str] = (DEFAULT_QUEUE,),
    *,
    connection: redis.Redis | None = None,
    limit: int = 50,
) -> list[JobView]:
    """Jobs on `queues` in any state, oldest enqueued first (at most `limit`, newest kept).

    Reads the queue, RQ's registries (started, scheduled, deferred, finished, failed,
    canceled) and the jobs a `RateLimit` holds back ("rate_limited").
    """
    conn = connection if connection is not None else get_redis()
    ids: dict[str, None] = {}
    for name in queues:
        for job_id in _registry_ids(get_queue(name, connection=conn)):
            ids.setdefault(job_id, None)
    held = [i for r in RateLimitRegistry.all(conn) for i in r.get_rate_limited_job_ids()]
    for job_id in held:  # jobs a RateLimit holds back, on any queue: filtered below
        ids.setdefault(job_id, None)
    views = []
    for job in Job.fetch_many(list(ids), connection=conn):
        if job is not None and job.origin in queues:
            views.append(describe(job))
    views.sort(key=lambda v: (v.enqueued_at or 0.0, v.id))
    return views[-limit:]
