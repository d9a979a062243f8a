"""The research assistant v2/v3 as a DBOS workflow: every turn, tool call and the writing a step.

`research_workflow(question, version)` runs the same agent as `research.agent`, with
DBOS as its step runner: each model turn and each tool call is a DBOS step, so a
process killed mid-research resumes with the finished steps replayed from DBOS's
record instead of paid for again. Progress events go to the workflow's `progress`
stream (recorded, so a replay does not send them twice); the one notification
carries the workflow id as its idempotency key and the permalink `/r/<id>`.

`run_research(question, *, client=None, progress=None)` is the adapter for a job
runner that already owns a job (the web service's RQ job): it starts (or, on a
retry of the same job, re-attaches to) the workflow whose id is the job id (so the
permalink is the web's `/r/<job id>`), forwards the stream's events to `progress`
from `progress_offset` on (the events an earlier attempt already forwarded are not
sent twice), and returns the answer as JSON data. The caller owns that job's
notification (`inbox=None`). If `progress` raises (the user cancelled), the workflow
is cancelled too - unless it is the event store that failed (a Redis restart): then
the work goes on, and the job's retry re-attaches to it.

Where does a retried job's workflow run? A work horse that `rq worker` forks for a
job launches DBOS with an executor id made from the job id. If that horse is killed,
the job's retry forks a new horse, which launches with the same executor id, and DBOS
recovers exactly that workflow there (finished steps replayed, not run); no other
process can take it, so it never runs twice at once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import anthropic
import redis
from dbos import DBOS, DBOSClient, EnqueueOptions, SetWorkflowID
from rq import get_current_job

from .. import config
from ..durable import engine
from ..jobs import Inbox, Message, get_redis
from .agent import check_question
from .result import ProgressCallback
from .versions import Version, check_version, default_version, run_version

__all__ = [
    "INBOX",
    "PROGRESS",
    "DBOSSteps",
    "enqueue_workflow",
    "ensure_engine",
    "progress_events",
    "research_workflow",
    "run_research",
    "start_research",
]

T = TypeVar("T")
PROGRESS = "progress"
INBOX = "research"
"""The inbox notifications go to (a Redis list any page, widget or test can read)."""
_clients: dict[str, anthropic.Anthropic] = {}  # per process, per workflow: a handle, not state
_launch_lock = threading.Lock()


class DBOSSteps:
    """The agent's `StepRunner` on DBOS: `step(name, fn)` is a recorded DBOS step."""

    def step(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return DBOS.run_step({"name": name}, fn, *args, **kwargs)


@DBOS.step(name="research.notify")
def _notify(workflow_id: str, question: str, result: dict[str, Any], inbox: str) -> bool:
    # The inbox keeps one message per idempotency key (the workflow id): a rerun of
    # this step (killed after sending, before DBOS recorded it) cannot notify twice.
    sources = ", ".join(s["id"] for s in result.get("sources", [])) or "none"
    message = Message(
        subject="Your research answer is ready",
        body=(
            f"Your question: {question}\n\n"
            f"The answer is ready, with {len(result.get('sources', []))} sources ({sources}).\n"
            f"Read it here: /r/{workflow_id}\n"
        ),
        to="you",
        sender="research assistant",
        channel="email",
        job_id=workflow_id,
        idempotency_key=workflow_id,
    )
    return Inbox(inbox, connection=get_redis()).append(message)


@DBOS.workflow(name="research.workflow")
def research_workflow(
    question: str,
    version: str = "v2",
    inbox: str | None = INBOX,
    time_scale: float | None = None,
) -> dict[str, Any]:
    """Plan, tool calls and writing as DBOS steps; progress as a stream; one notification.

    `inbox=None` sends none (a caller that owns the job notifies); `time_scale` is the
    clock the starter played on, kept with the workflow so a recovery plays on it too.
    """
    workflow_id = str(DBOS.workflow_id)

    def progress(event: Mapping[str, Any]) -> None:
        DBOS.write_stream(PROGRESS, dict(event))

    chosen: Version = "v3" if version == "v3" else "v2"
    playing = (
        config.time_scale_in_context(time_scale)
        if time_scale is not None
        else contextlib.nullcontext()
    )
    with playing:
        result = run_version(
            question,
            chosen,
            client=_clients.get(workflow_id),
            progress=progress,
            steps=DBOSSteps(),
        )
    data = result.as_dict()
    if inbox is not None:
        _notify(workflow_id, question, data, inbox)
    DBOS.close_stream(PROGRESS)
    return {**data, "workflow_id": workflow_id, "permalink": f"/r/{workflow_id}"}


def ensure_engine(executor_id: str | None = None) -> None:
    """Launch DBOS in this process once (an RQ work horse, a web process), with the course
    config; `executor_id` names the executor whose unfinished workflows it recovers."""
    with _launch_lock:
        if not engine.is_launched():
            engine.launch(executor_id=executor_id)


def start_research(
    question: str,
    *,
    workflow_id: str | None = None,
    version: str = "v2",
    client: anthropic.Anthropic | None = None,
    inbox: str | None = INBOX,
    time_scale: float | None = None,
) -> Any:
    """Start the workflow under `workflow_id` (new and unguessable if None); return its handle.

    The same id again attaches to the same workflow: a double submit, or an RQ retry
    after a crash, never runs the research (or notifies) twice.
    """
    question = check_question(question)
    check_version(version)
    workflow_id = workflow_id or secrets.token_urlsafe(16)
    if client is not None:
        _clients[workflow_id] = client
    with SetWorkflowID(workflow_id):
        return DBOS.start_workflow(research_workflow, question, version, inbox, time_scale)


def enqueue_workflow(
    client: DBOSClient,
    question: str,
    *,
    workflow_id: str | None = None,
    version: str = "v2",
    inbox: str | None = INBOX,
    time_scale: float | None = None,
) -> Any:
    """Put a question on the course queue from any process (a `DBOSClient`); return its handle.

    A worker process that imported this module runs it (`python -m
    stream_or_queue.durable.worker --import stream_or_queue.research.durable`); the
    enqueuer only watches. `time_scale` (default: this process's) goes with the workflow.
    """
    question = check_question(question)
    check_version(version)
    options: EnqueueOptions = {
        "queue_name": config.DURABLE_QUEUE,
        "workflow_name": "research.workflow",
        "workflow_id": workflow_id or secrets.token_urlsafe(16),
        "app_version": config.DURABLE_APP_VERSION,
    }
    scale = config.time_scale() if time_scale is None else time_scale
    return client.enqueue(options, question, version, inbox, scale)


def progress_events(workflow_id: str, offset: int = 0) -> Iterator[dict[str, Any]]:
    """A workflow's progress events from the `offset`-th (0: the first); ends with the workflow."""
    yield from DBOS.read_stream(workflow_id, PROGRESS, offset=offset)


def run_research(
    question: str,
    *,
    client: anthropic.Anthropic | None = None,
    progress: ProgressCallback | None = None,
    version: str | None = None,
    progress_offset: int = 0,
) -> dict[str, Any]:
    """The web job hook: run (or resume) the research as a DBOS workflow tied to this job."""
    job = get_current_job()
    # In a forked work horse this is the first launch: the executor is named after the
    # job, so the retry of a killed horse recovers this workflow and no one else's.
    ensure_engine(f"job-{job.id}" if job is not None else f"process-{os.getpid()}")
    workflow_id = job.id if job is not None else None  # the same permalink, /r/<job id>
    chosen = version or default_version()
    handle = start_research(
        question,
        workflow_id=workflow_id,
        version=chosen,
        client=client,
        inbox=None,
        time_scale=config.time_scale(),
    )
    try:
        for event in progress_events(handle.get_workflow_id(), progress_offset):
            if progress is not None:
                progress(event)  # type: ignore[arg-type]
    except (redis.RedisError, OSError):
        raise  # the event store failed, not the work: it goes on, a retry re-attaches
    except BaseException:
        DBOS.cancel_workflow(handle.get_workflow_id())  # the user cancelled
        raise
    finally:
        _clients.pop(handle.get_workflow_id(), None)
    return dict(handle.get_result())
