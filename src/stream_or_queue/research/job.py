"""v2 and v3 as a durable background job on RQ.

The user submits a question and gets a job id back at once ("we're working on
it"). A worker runs `research_job`: every model turn and tool call is a
checkpointed step (`stream_or_queue.durable.DurableRun`), progress goes to the
job's meta (`jobs.report_progress`, what a page or widget polls), and when the
answer is ready one notification with the permalink lands in the user's inbox -
exactly once, even if the job ran twice. A crash or a deploy in the middle makes
RQ run the job again (it is enqueued with `Retry`), and the new attempt replays
the finished steps from their checkpoints instead of redoing them.

`run_research` here is the same job body for a caller that owns the RQ job
already (the web service's job hook): it checkpoints when it runs inside a job
and simply runs when it does not.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

import anthropic
from rq import Queue, Retry, get_current_job
from rq.job import Job

from .. import config
from ..durable import DurableRun
from ..jobs import Inbox, Message, get_queue, report_progress
from . import agent
from .agent import StepRunner, check_question
from .batched import load_digests, run_research_v3
from .result import ProgressCallback, ProgressEvent, ResearchResult

__all__ = [
    "INBOX",
    "RESEARCH_QUEUE",
    "VERSION_ENV",
    "Version",
    "default_version",
    "enqueue_research",
    "research_job",
    "run_research",
    "run_version",
]

Version = Literal["v2", "v3"]

RESEARCH_QUEUE = "research"
INBOX = "research"
"""The inbox notifications go to (a Redis list any page, widget or test can read)."""
VERSION_ENV = "SOQ_RESEARCH_VERSION"
"""Which version a job runs when none is given: v2 (default) or v3."""
JOB_TIMEOUT_S = 30 * 60  # real seconds: RQ's own limit for one attempt


def default_version() -> Version:
    value = os.environ.get(VERSION_ENV, "v2").strip().lower()
    if value not in ("v2", "v3"):
        raise ValueError(f"{VERSION_ENV} must be v2 or v3, got {value!r}")
    return "v3" if value == "v3" else "v2"


def _check_version(version: object) -> Version:
    if version not in ("v2", "v3"):
        raise ValueError(f"version must be 'v2' or 'v3', got {version!r}")
    return "v3" if version == "v3" else "v2"


def run_version(
    question: str,
    version: Version,
    *,
    client: anthropic.Anthropic | None = None,
    progress: ProgressCallback | None = None,
    steps: StepRunner | None = None,
    digests: Mapping[str, str] | None = None,
) -> ResearchResult:
    """Run one question as v2 (the agent loop, live) or v3 (batch where it can wait)."""
    if _check_version(version) == "v3":
        return run_research_v3(
            question, client=client, progress=progress, steps=steps, digests=digests
        )
    return agent.run_research(question, client=client, progress=progress, steps=steps)


def _job_progress(job: Job, forward: ProgressCallback | None) -> ProgressCallback:
    def report(event: ProgressEvent) -> None:
        report_progress(event["percent"], event["step"], event["message"], job=job)
        if forward is not None:
            forward(event)

    return report


def _notify(
    connection: Any,
    inbox: str,
    job_id: str,
    permalink: str,
    question: str,
    result: Mapping[str, Any],
    key: str,
) -> bool:
    sources = ", ".join(s["id"] for s in result.get("sources", [])) or "none"
    body = (
        f"Your question: {question}\n\n"
        f"The answer is ready, with {len(result.get('sources', []))} sources ({sources}).\n"
        f"Read it here: {permalink}\n"
    )
    message = Message(
        subject="Your research answer is ready",
        body=body,
        to="you",
        sender="research assistant",
        channel="email",
        job_id=job_id,
        idempotency_key=key,
    )
    return Inbox(inbox, connection=connection).append(message)


def research_job(question: str, version: str | None = None) -> dict[str, Any]:
    """The RQ job: answer `question` durably; the return value is the permalink's content.

    Checkpoints every step, reports progress to the job's meta, and sends one
    notification (to the `research` inbox) when done. `version` is v2 or v3
    (default: `$SOQ_RESEARCH_VERSION`, else v2).
    """
    job = get_current_job()
    if job is None:
        raise RuntimeError(
            "research_job runs inside an RQ worker; elsewhere call run_research(question)"
        )
    chosen = _check_version(version) if version is not None else default_version()
    digests = load_digests(job.connection) if chosen == "v3" else None
    permalink = str(job.meta.get("permalink") or f"/r/{job.id}")
    with DurableRun.current() as run:
        result = run_version(
            question, chosen, progress=_job_progress(job, None), steps=run, digests=digests or None
        )
        data = result.as_dict()
        run.once(
            "notify",
            _notify,
            job.connection,
            str(job.meta.get("inbox", INBOX)),
            job.id,
            permalink,
            question,
            data,
            run.key("notify"),
        )
        data.update(job_id=job.id, attempt=run.attempt, permalink=permalink)
        return data


def enqueue_research(
    question: str,
    version: str = "v2",
    *,
    queue: Queue | None = None,
    retries: int = config.DURABLE_DEFAULT_RETRIES,
    meta: Mapping[str, Any] | None = None,
    job_id: str | None = None,
) -> Job:
    """Submit a question: checked now, run by a worker, retried (and resumed) after a crash."""
    question = check_question(question)
    _check_version(version)
    queue = queue or get_queue(RESEARCH_QUEUE)
    return queue.enqueue(
        research_job,
        question,
        version,
        job_id=job_id,
        retry=Retry(max=retries) if retries > 0 else None,
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=config.DURABLE_KEY_TTL_S,
        failure_ttl=config.DURABLE_KEY_TTL_S,
        description=f"research ({version})",
        meta={"question": question, "version": version, **dict(meta or {})},
    )


def run_research(
    question: str,
    *,
    client: anthropic.Anthropic | None = None,
    progress: ProgressCallback | None = None,
    on_text: Callable[[str], None] | None = None,
    version: str | None = None,
) -> ResearchResult:
    """The research assistant for a caller that runs it inside its own RQ job (the web hook).

    Inside an RQ job, every step is checkpointed under that job's id, so a retried
    job resumes; outside one, it just runs (and streams `on_text`, like the chat box).
    `version` defaults to `$SOQ_RESEARCH_VERSION` (v2 unless set).
    """
    check_question(question)
    chosen = _check_version(version) if version is not None else default_version()
    job = get_current_job()
    if job is None:
        if chosen == "v3":
            return run_research_v3(question, client=client, progress=progress)
        return agent.run_research(question, client=client, progress=progress, on_text=on_text)
    digests = load_digests(job.connection) if chosen == "v3" else None
    with DurableRun.current() as run:
        return run_version(
            question, chosen, client=client, progress=progress, steps=run, digests=digests or None
        )
