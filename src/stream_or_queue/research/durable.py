"""The research assistant v2/v3 as a DBOS workflow: every turn, tool call and the writing a step.

`research_workflow(question, version)` runs the same agent as `research.agent`, with
DBOS as its step runner: each model turn and each tool call is a DBOS step, so a
process killed mid-research resumes with the finished steps replayed from DBOS's
record instead of paid for again. Progress events go to the workflow's `progress`
stream (recorded, so a replay does not send them twice); the one notification
carries the workflow id as its idempotency key and the permalink `/r/<id>`.

`run_research(question, *, client=None, progress=None)` is the adapter for a job
runner that already owns a job (the web service's RQ job): it starts (or, on a
retry of the same job, re-attaches to) the workflow whose id is the job id (so
the notification's permalink is the web's `/r/<job id>`), forwards the stream's
events to `progress`, and returns the answer as JSON data. If `progress` raises
(the user cancelled), the workflow is cancelled too.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import anthropic
from dbos import DBOS, SetWorkflowID
from rq import get_current_job

from ..durable import engine
from ..jobs import get_redis
from . import job as rq_job
from .agent import check_question
from .result import ProgressCallback

__all__ = [
    "PROGRESS",
    "DBOSSteps",
    "ensure_engine",
    "progress_events",
    "research_workflow",
    "run_research",
    "start_research",
]

T = TypeVar("T")
PROGRESS = "progress"
_clients: dict[str, anthropic.Anthropic] = {}  # per process, per workflow: a handle, not state
_launch_lock = threading.Lock()


class DBOSSteps:
    """The agent's `StepRunner` on DBOS: `step(name, fn)` is a recorded DBOS step."""

    def step(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return DBOS.run_step({"name": name}, fn, *args, **kwargs)


@DBOS.step(name="research.notify")
def _notify(workflow_id: str, question: str, result: dict[str, Any], inbox: str) -> bool:
    # The inbox keeps one message per idempotency key: a rerun of this step (killed
    # after sending, before DBOS recorded it) cannot notify twice.
    return rq_job._notify(
        get_redis(), inbox, workflow_id, f"/r/{workflow_id}", question, result, workflow_id
    )


@DBOS.workflow(name="research.workflow")
def research_workflow(
    question: str, version: str = "v2", inbox: str = rq_job.INBOX
) -> dict[str, Any]:
    """Plan, tool calls and writing as DBOS steps; progress as a stream; one notification."""
    workflow_id = str(DBOS.workflow_id)

    def progress(event: Mapping[str, Any]) -> None:
        DBOS.write_stream(PROGRESS, dict(event))

    chosen: rq_job.Version = "v3" if version == "v3" else "v2"
    result = rq_job.run_version(
        question, chosen, client=_clients.get(workflow_id), progress=progress, steps=DBOSSteps()
    )
    data = result.as_dict()
    _notify(workflow_id, question, data, inbox)
    DBOS.close_stream(PROGRESS)
    return {**data, "workflow_id": workflow_id, "permalink": f"/r/{workflow_id}"}


def ensure_engine() -> None:
    """Launch DBOS in this process once (an RQ worker, a web process), with the course config."""
    with _launch_lock:
        if not engine.is_launched():
            engine.launch()


def start_research(
    question: str,
    *,
    workflow_id: str | None = None,
    version: str = "v2",
    client: anthropic.Anthropic | None = None,
) -> Any:
    """Start the workflow under `workflow_id` (new and unguessable if None); return its handle.

    The same id again attaches to the same workflow: a double submit, or an RQ retry
    after a crash, never runs the research (or notifies) twice.
    """
    question = check_question(question)
    rq_job._check_version(version)
    workflow_id = workflow_id or secrets.token_urlsafe(16)
    if client is not None:
        _clients[workflow_id] = client
    with SetWorkflowID(workflow_id):
        return DBOS.start_workflow(research_workflow, question, version)


def progress_events(workflow_id: str) -> Iterator[dict[str, Any]]:
    """Every progress event of a workflow, from the first; ends when the workflow does."""
    yield from DBOS.read_stream(workflow_id, PROGRESS)


def run_research(
    question: str,
    *,
    client: anthropic.Anthropic | None = None,
    progress: ProgressCallback | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The web job hook: run (or resume) the research as a DBOS workflow tied to this job."""
    ensure_engine()
    job = get_current_job()
    workflow_id = job.id if job is not None else None  # the same permalink, /r/<job id>
    chosen = version or rq_job.default_version()
    handle = start_research(question, workflow_id=workflow_id, version=chosen, client=client)
    try:
        for event in progress_events(handle.get_workflow_id()):
            if progress is not None:
                progress(event)  # type: ignore[arg-type]
    except BaseException:
        DBOS.cancel_workflow(handle.get_workflow_id())  # the user cancelled, or this job died
        raise
    finally:
        _clients.pop(handle.get_workflow_id(), None)
    return dict(handle.get_result())
