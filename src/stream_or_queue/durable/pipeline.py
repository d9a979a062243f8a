"""The course's durable pipeline on DBOS: three steps, progress, one notification.

`pipeline(item, step_s, ledger)` is a DBOS workflow: `fetch`, `analyse` and `write`
are DBOS steps (their results are checkpointed in the system database), progress
goes out as an event (the latest) and a stream (all of it), and `notify` sends one
message keyed by the workflow id. Start it under a workflow id derived from the
request (`start_pipeline`): a second submission of the same request attaches to
the same workflow instead of running (and notifying) twice.

The `ledger` (`durable.ledger`) is the outside world's view, written by the step
bodies themselves: which steps started and finished, and which notifications were
delivered. DBOS's own record says what it checkpointed; the ledger says what really
ran, so a test or a benchmark can count finished steps that ran again and duplicate
notifications after a `kill -9`.

`apipeline` is the async twin for notebooks (DBOS's sync API raises while an event
loop runs, as it does in every notebook cell). Both live in this importable module so
that worker processes (`python -m stream_or_queue.durable.worker`) can run them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dbos import DBOS, DBOSClient, EnqueueOptions, SetWorkflowID

from .. import config
from .ledger import STEPS, LedgerCounts, ledger_counts, read_ledger
from .ledger import record as _record

__all__ = [
    "PROGRESS",
    "STEPS",
    "LedgerCounts",
    "WorkflowIdConflict",
    "apipeline",
    "enqueue_pipeline",
    "ledger_counts",
    "pipeline",
    "read_ledger",
    "start_pipeline",
]

PROGRESS = "progress"
"""Event key (latest progress) and stream key (every progress event) of a pipeline."""


class WorkflowIdConflict(ValueError):
    """A workflow id already names a workflow started with other arguments."""


def _progress(index: int, name: str) -> dict[str, Any]:
    return {"step": name, "index": index, "percent": round(100 * index / (len(STEPS) + 1))}


@DBOS.step()
def work(workflow_id: str, item: str, name: str, step_s: float, ledger: str) -> str:
    """One unit of work: takes `step_s` real seconds; its result is checkpointed."""
    _record(ledger, "start", workflow_id, name)
    time.sleep(step_s)
    _record(ledger, "end", workflow_id, name)
    return f"{name}({item})"


@DBOS.step()
def notify(workflow_id: str, text: str, ledger: str) -> str:
    """Deliver the one notification; the workflow id is its idempotency key."""
    _record(ledger, "notify", workflow_id, "notify", text)
    return workflow_id


@DBOS.workflow()
def pipeline(item: str, step_s: float = 0.2, ledger: str = "") -> dict[str, Any]:
    """fetch -> analyse -> write -> notify, each a checkpointed step."""
    workflow_id = str(DBOS.workflow_id)
    results = []
    for index, name in enumerate(STEPS):
        event = _progress(index, name)
        DBOS.set_event(PROGRESS, event)
        DBOS.write_stream(PROGRESS, event)
        results.append(work(workflow_id, item, name, step_s, ledger))
    notify(workflow_id, results[-1], ledger)
    done = {"step": "done", "index": len(STEPS), "percent": 100}
    DBOS.set_event(PROGRESS, done)
    DBOS.write_stream(PROGRESS, done)
    DBOS.close_stream(PROGRESS)
    return {"item": item, "results": results}


@DBOS.step()
async def awork(workflow_id: str, item: str, name: str, step_s: float, ledger: str) -> str:
    """`work` for an event loop: awaits instead of blocking the notebook's kernel."""
    _record(ledger, "start", workflow_id, name)
    await asyncio.sleep(step_s)
    _record(ledger, "end", workflow_id, name)
    return f"{name}({item})"


@DBOS.step()
async def anotify(workflow_id: str, text: str, ledger: str) -> str:
    _record(ledger, "notify", workflow_id, "notify", text)
    return workflow_id


@DBOS.workflow()
async def apipeline(item: str, step_s: float = 0.2, ledger: str = "") -> dict[str, Any]:
    """The async twin of `pipeline`, for notebooks (`await DBOS.start_workflow_async(...)`)."""
    workflow_id = str(DBOS.workflow_id)
    results = []
    for index, name in enumerate(STEPS):
        event = _progress(index, name)
        await DBOS.set_event_async(PROGRESS, event)
        await DBOS.write_stream_async(PROGRESS, event)
        results.append(await awork(workflow_id, item, name, step_s, ledger))
    await anotify(workflow_id, results[-1], ledger)
    done = {"step": "done", "index": len(STEPS), "percent": 100}
    await DBOS.set_event_async(PROGRESS, done)
    await DBOS.write_stream_async(PROGRESS, done)
    await DBOS.close_stream_async(PROGRESS)
    return {"item": item, "results": results}


def _check_same_input(status: Any, args: tuple[Any, ...], workflow_id: str) -> None:
    existing = getattr(status, "input", None)
    if existing is None:
        return
    if tuple(existing["args"]) != args:
        raise WorkflowIdConflict(
            f"workflow id {workflow_id!r} already names a {status.name} workflow started with "
            f"other arguments; choose a new id for new work (the existing one is kept as is)"
        )


def start_pipeline(workflow_id: str, item: str, step_s: float = 0.2, ledger: str = "") -> Any:
    """Start `pipeline` in this process under `workflow_id`, or attach to it if it exists.

    The same id with the same arguments is the same request (a double click, a retry):
    DBOS returns the existing workflow, which notifies once. The same id with other
    arguments is a mistake and raises `WorkflowIdConflict` before anything runs.
    """
    args = (item, step_s, ledger)
    _check_same_input(DBOS.get_workflow_status(workflow_id), args, workflow_id)
    with SetWorkflowID(workflow_id):
        return DBOS.start_workflow(pipeline, *args)


def enqueue_pipeline(
    client: DBOSClient,
    workflow_id: str,
    item: str,
    step_s: float = 0.2,
    ledger: str = "",
    *,
    app_version: str = config.DURABLE_APP_VERSION,
    queue_name: str = config.DURABLE_QUEUE,
) -> Any:
    """Enqueue `pipeline` on a queue (the course's by default) from any process (a `DBOSClient`).

    Only a worker running `app_version` dequeues it (the pinned version by default).
    """
    args = (item, step_s, ledger)
    existing = client.list_workflows(workflow_ids=[workflow_id])
    if existing:
        _check_same_input(existing[0], args, workflow_id)
    options: EnqueueOptions = {
        "queue_name": queue_name,
        "workflow_name": "pipeline",
        "workflow_id": workflow_id,
        "app_version": app_version,
    }
    return client.enqueue(options, *args)
