"""The web service's background job: a research question run on RQ, as a DBOS workflow.

`submit()` enqueues `research_job` under an unguessable id; the job runs the
research agent and writes every step to the job's event stream (`events.py`),
ending with one terminal event. `job_view()` is what `GET /jobs/{id}` returns.

Which agent runs is decided by one import below (`run_research`, in `agent()`: DBOS
costs about two seconds of CPU to import, which a web process that only queues jobs
never needs, and a restarted web tier must answer `/healthz` quickly); anything
with the signature `run_research(question, *, client=None, progress=None,
progress_offset=0)` whose `progress` receives `{"step", "percent", "message"}`
events (from the `progress_offset`-th on) fits, and its result (or its
`as_dict()`, with `answer` and `sources`) is the job's result.
It is the research assistant on DBOS (`stream_or_queue.research.durable`): the
job runs a durable workflow whose id is the job's id, every model turn and tool
call a recorded step, so a job that RQ retries after a crash re-attaches to its
workflow, which resumes where it was instead of paying for every step again.
RQ remains the queue (who runs the job, retries, cancellation); DBOS is the
record of the work.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
from rq import Queue, Retry, get_current_job
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from .. import config
from ..jobs import Inbox, Message, get_queue, report_progress
from . import events

if TYPE_CHECKING:
    from ..research.durable import run_research

__all__ = [
    "JOB_KIND",
    "LOST_WORKER_MESSAGE",
    "JobCanceled",
    "ProgressPublisher",
    "accepted_view",
    "agent",
    "ajob_view",
    "as_result",
    "cancel",
    "fetch",
    "is_valid_job_id",
    "job_view",
    "new_job_id",
    "notify_done",
    "research_job",
    "run_research",
    "submit",
]

JOB_KIND = "web-research"
LOST_WORKER_MESSAGE = "A worker was lost; retrying from the last checkpoint"
JOB_TIMEOUT_S = 30 * 60
"""RQ's limit on one research job (real s): past it the worker kills the job."""
JOB_RETRIES = 3
"""RQ `Retry(max=...)` budget of the research job: each crash or failure uses one
(the retry re-attaches to the job's DBOS workflow, which resumes)."""
_OWN_STEPS = frozenset({"queued", "retrying"})  # events this module writes, not the agent
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.STARTED: "started",
    JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELED: "canceled",
    JobStatus.STOPPED: "canceled",
}


def agent() -> Callable[..., Any]:
    """The agent a job runs, imported on the first call (see the docstring); a process
    that runs jobs calls it when its worker starts, so no job pays for the import."""
    from ..research.durable import run_research  # the one line that picks the agent

    return run_research


def __getattr__(name: str) -> Any:
    """`web.jobs.run_research` is the agent, imported on first use (see the docstring)."""
    if name == "run_research":
        return agent()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class JobCanceled(Exception):
    """Raised inside a job (from its progress callback) once someone cancelled it."""


def new_job_id() -> str:
    """22 URL-safe characters, 128 random bits: a permalink nobody can guess."""
    return secrets.token_urlsafe(16)


def is_valid_job_id(job_id: str) -> bool:
    return _JOB_ID.fullmatch(job_id) is not None


def _cancel_key(job_id: str) -> str:
    return f"soq:web:cancel:{job_id}"


class ProgressPublisher:
    """The `progress` callable handed to the agent: writes events, honours cancellation."""

    def __init__(self, connection: redis.Redis, job_id: str, job: Job | None = None) -> None:
        self.connection = connection
        self.job_id = job_id
        self.job = job

    def __call__(self, event: Mapping[str, Any]) -> None:
        if self.connection.exists(_cancel_key(self.job_id)):
            raise JobCanceled(self.job_id)
        step = str(event.get("step", "working"))
        if step in events.TERMINAL_STEPS:  # only the job wrapper ends a job
            step = f"{step}-step"
        percent = max(0.0, min(100.0, float(event.get("percent", 0))))
        message = str(event.get("message", ""))
        events.publish(self.connection, self.job_id, step, percent, message)
        if self.job is not None:  # also in the job's meta, for RQ-side tools (JobBoard)
            report_progress(percent, step[:64], message[:500], job=self.job)


def as_result(answer: Any) -> dict[str, Any]:
    """The agent's answer as JSON data (its `as_dict()` when it has one)."""
    if hasattr(answer, "as_dict"):
        return dict(answer.as_dict())
    if is_dataclass(answer) and not isinstance(answer, type):
        return asdict(answer)
    if isinstance(answer, Mapping):
        return dict(answer)
    return {"text": str(answer), "sources": []}


def _attempt(job: Job) -> int:
    """Count this attempt of `job` (1 for the first); the count lives as long as its events."""
    key = f"soq:web:attempts:{job.id}"
    with job.connection.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, config.WEB_RESULT_TTL_S)
        count, _ = pipe.execute()
    return int(count)


def research_job(question: str) -> dict[str, Any]:
    """The RQ job: answer `question`, reporting progress; the result is JSON-ready."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("research_job runs inside an RQ worker")
    last = events.last_event(job.connection, job.id)
    if last is not None and last.terminal:
        # An attempt ended the job and died before RQ recorded it: nothing to redo.
        if last.step == "finished":
            result = dict(last.data.get("result") or {})
            notify_done(job.connection, job.id, question, result)  # at most once (its key)
            return result
        job.retries_left = 0
        raise JobCanceled(job.id) if last.step == "canceled" else RuntimeError(last.message)
    if _attempt(job) > 1 and (last is None or last.step != "retrying"):
        # An earlier attempt started and neither finished nor failed (which would have
        # said "retrying"): its worker vanished - killed, or its machine lost - and RQ's
        # maintenance or the supervisor put the job back. Say so before resuming.
        percent = last.percent if last is not None else 0
        events.publish(job.connection, job.id, "retrying", percent, LOST_WORKER_MESSAGE)
    publisher = ProgressPublisher(job.connection, job.id, job)
    # The agent's events an earlier attempt already published: not sent twice.
    forwarded = sum(
        1
        for e in events.read_events(job.connection, job.id)
        if e.step not in _OWN_STEPS and not e.terminal
    )
    scale = job.meta.get("time_scale")
    # a job a person started from the page plays on the human clock (see config)
    playing = (
        config.time_scale_in_context(float(scale))
        if isinstance(scale, int | float)
        else contextlib.nullcontext()
    )
    try:
        with playing:
            answer = agent()(question, progress=publisher, progress_offset=forwarded)
    except JobCanceled:
        job.retries_left = 0  # a cancelled job must not be retried
        events.publish_terminal(job.connection, job.id, "canceled", "Canceled")
        raise
    except Exception:
        if job.retries_left:
            events.publish(
                job.connection,
                job.id,
                "retrying",
                0,
                "Something failed; trying again from the last checkpoint",
            )
        else:
            events.publish_terminal(
                job.connection, job.id, "failed", "The research failed. Please ask again."
            )
        raise
    result = as_result(answer)
    events.publish_terminal(
        job.connection, job.id, "finished", "The answer is ready", result=result
    )
    notify_done(job.connection, job.id, question, result)
    return result


def notify_done(
    connection: redis.Redis, job_id: str, question: str, result: Mapping[str, Any]
) -> bool:
    """Tell the user the answer is ready (an email in the `WEB_INBOX` inbox), exactly once.

    The message's idempotency key is the job's id: an attempt retried after its
    worker died, or two attempts racing, add one message. Returns True if this
    call added it.
    """
    sources = list(result.get("sources") or [])
    message = Message(
        subject="Your research answer is ready",
        body=f"Your question: {question[:200]}\n\nThe answer is ready, with {len(sources)} "
        f"sources.\nRead it here: /r/{job_id}\n",
        to="you",
        sender="research assistant",
        channel="email",
        job_id=job_id,
        idempotency_key=f"web-done:{job_id}",
    )
    return Inbox(config.WEB_INBOX, connection=connection).append(message)


def submit(
    question: str,
    *,
    queue: Queue | None = None,
    job: Callable[..., Any] | None = None,
    time_scale: float | None = None,
) -> Job:
    """Enqueue a question as `job` (default `research_job`) under a new unguessable id.

    Its first event ("queued") exists before any worker sees it. The job is
    retried (`Retry`) after a failure or a lost worker; `research_job` resumes
    from its checkpoints and says so on its event stream.

    `time_scale` plays this job on another clock than the worker's: the page passes
    `config.human_time_scale()` for a job a person started, so its progress moves at a
    real pace; API clients (notebook cells that measure) leave it to the worker.
    """
    queue = queue or get_queue(config.WEB_QUEUE)
    meta: dict[str, Any] = {"kind": JOB_KIND}
    if time_scale is not None:
        meta["time_scale"] = time_scale
    job_id = new_job_id()
    events.publish(queue.connection, job_id, "queued", 0, "Waiting for a worker")
    return queue.enqueue(
        job or research_job,
        question,
        job_id=job_id,
        job_timeout=JOB_TIMEOUT_S,
        retry=Retry(max=JOB_RETRIES),
        result_ttl=config.WEB_RESULT_TTL_S,
        failure_ttl=config.WEB_RESULT_TTL_S,
        ttl=config.WEB_RESULT_TTL_S,
        description="research question",
        meta=meta,
    )


def fetch(connection: redis.Redis, job_id: str) -> Job | None:
    """The web job `job_id`, or None: malformed ids, unknown ids and other jobs look the same."""
    if not is_valid_job_id(job_id):
        return None
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return None
    return job if job.meta.get("kind") == JOB_KIND else None


def job_view(connection: redis.Redis, job_id: str) -> dict[str, Any] | None:
    """Status, progress and (when finished) result of a web job; None if there is none."""
    job = fetch(connection, job_id)
    if job is None:
        return None
    return _view(job, events.last_event(connection, job_id))


def accepted_view(job: Job) -> dict[str, Any]:
    """The view of a job just submitted, as it was accepted (what `202 Accepted` says).

    Read back from Redis instead, it would race the worker: a thread worker can take
    the job before the response is written, and the reply would say "started" one time
    and "queued" the next.
    """
    return _view(job, None)


async def ajob_view(
    aconnection: redis.asyncio.Redis, connection: redis.Redis, job_id: str
) -> dict[str, Any] | None:
    """The async twin of `job_view`: both reads in one round trip, no thread hop.

    `connection` (sync) is only used if the result must be read from RQ's
    results store - the rare finished job without a terminal event.
    """
    if not is_valid_job_id(job_id):
        return None
    async with aconnection.pipeline(transaction=False) as pipe:
        pipe.hgetall(Job.key_for(job_id))
        pipe.xrevrange(events.events_key(job_id), "+", "-", count=1)
        raw, last = await pipe.execute()
    if not raw:
        return None
    job = Job(job_id, connection=connection)
    try:
        job.restore(raw)
    except NoSuchJobError:
        return None
    if job.meta.get("kind") != JOB_KIND:
        return None
    return _view(job, events.ProgressEvent.from_entry(last[0]) if last else None)


def _view(job: Job, last: events.ProgressEvent | None) -> dict[str, Any]:
    """What `GET /jobs/{id}` shows, from the RQ job and its newest event.

    The terminal event, when there is one, decides the status: it is written
    before RQ records the end of the job, and it is the only place that knows a
    started job was cancelled.
    """
    status = _STATUS.get(job.get_status(refresh=False) or JobStatus.QUEUED, "queued")
    result: dict[str, Any] | None = None
    if last is not None and last.terminal:
        status = last.step
        result = last.data.get("result")
    if status == "finished" and result is None:
        result = as_result(job.return_value())
    progress = (
        {"step": last.step, "percent": last.percent, "message": last.message}
        if last is not None
        else {"step": "queued", "percent": 0, "message": "Waiting for a worker"}
    )
    if status in ("failed", "canceled") and (last is None or not last.terminal):
        progress = {
            "step": status,
            "percent": 100,
            "message": "Canceled" if status == "canceled" else "The research failed.",
        }
    return {
        "id": job.id,
        "status": status,
        "question": job.args[0] if job.args else "",
        "progress": progress,
        "result": result if status == "finished" else None,
        "links": {
            "self": f"/jobs/{job.id}",
            "events": f"/jobs/{job.id}/events",
            "page": f"/r/{job.id}",
        },
    }


def cancel(connection: redis.Redis, job_id: str) -> str | None:
    """Cancel a web job; returns its status afterwards, or None if there is no such job.

    A queued job is cancelled by RQ at once. A started one is asked to stop: a
    forking `rq worker` kills it (`send_stop_job_command`), and every worker's
    job stops at its next progress report, when it sees the cancel flag.
    """
    job = fetch(connection, job_id)
    if job is None:
        return None
    view = job_view(connection, job_id)
    status = view["status"] if view else "queued"
    if status in ("finished", "failed", "canceled"):
        return status
    connection.set(_cancel_key(job_id), 1, ex=config.WEB_RESULT_TTL_S)
    if status == "queued":
        with contextlib.suppress(InvalidJobOperation):
            job.cancel()
    else:
        from rq.command import send_stop_job_command

        with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
            send_stop_job_command(connection, job_id)
    events.publish_terminal(connection, job_id, "canceled", "Canceled")
    view = job_view(connection, job_id)
    return view["status"] if view else "canceled"
