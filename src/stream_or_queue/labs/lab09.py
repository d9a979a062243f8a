"""Capstone lab checks: the research assistant rebuilt from a chat box into a durable job.

The learner writes `research_jobs.py` next to the lab notebook with two functions:

- `submit(queue, question) -> job id`: refuse a bad question before enqueueing,
  enqueue `research_job(question)` with `Retry`, return the job's id;
- `research_job(question) -> dict`: run the research assistant inside a
  `DurableRun` (every step checkpointed), report progress to the job's meta, send
  one notification, return the result as JSON data.

The checks run that job on real RQ workers (threads on fakeredis, `rq worker`
processes on a real Redis), crash a worker in the middle, send the job through
the same 60 s edge as the chat box, and print the results table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from rq.job import Job

from .. import config
from ..durable import WorkerFleet, audit_trail, summarize, wait_until
from ..jobs import Inbox, get_progress, get_queue, progress_history
from ..research import QUESTIONS
from ..research.compare import measure_chat, measure_jobs, summarize_runs
from . import CheckFailed, call_learner, expect, passed
from .lab05 import load_job_module as _load

__all__ = [
    "INBOX",
    "QUEUE",
    "check_crash",
    "check_edge_and_results",
    "check_job",
    "load_job_module",
]

QUEUE = "research"
"""The queue the lab's workers listen to (the same one the measuring rig uses)."""
INBOX = "capstone"
"""Where the lab's notifications land."""
WAIT_REAL_S = 60.0


def load_job_module(name: str = "research_jobs") -> ModuleType:
    """Import (or re-import, after an edit) `research_jobs.py` written next to the notebook."""
    module = _load(name)
    for function in ("submit", "research_job"):
        expect(
            callable(getattr(module, function, None)),
            f"{name}.py has no function `{function}`: keep the names of the template.",
        )
    return module


@contextlib.contextmanager
def _workers(size: int = 1) -> Iterator[WorkerFleet]:
    fleet = WorkerFleet(size, [QUEUE])
    with config.time_scale_set_to(0.01):
        fleet.start()
        try:
            yield fleet
        finally:
            fleet.stop(grace_s=10.0)


def _submit(module: ModuleType, question: str) -> Job:
    job_id = call_learner(module.submit, get_queue(QUEUE), question)
    expect(
        isinstance(job_id, str) and job_id,
        f"`submit` returned {job_id!r}: return the id of the job you enqueued (`job.id`).",
    )
    try:
        return Job.fetch(job_id, connection=get_queue(QUEUE).connection)
    except Exception:
        raise CheckFailed(
            f"`submit` returned {job_id!r}, but there is no such job in Redis: "
            "enqueue with `queue.enqueue(...)` and return `job.id`."
        ) from None


def _status(job: Job) -> str:
    found = job.get_status(refresh=True)
    return found.value if found is not None else "queued"


def _wait(job: Job) -> dict[str, Any]:
    try:
        wait_until(lambda: _status(job) in ("finished", "failed"), WAIT_REAL_S)
    except TimeoutError:
        raise CheckFailed(
            f"the job did not finish within {WAIT_REAL_S:.0f} real s (status: {_status(job)})."
        ) from None
    if _status(job) == "failed":
        reason = ""
        result = job.latest_result()
        if result is not None and result.exc_string:
            reason = result.exc_string.strip().splitlines()[-1]
        if "NotImplementedError" in reason:
            raise CheckFailed(
                "`research_job` still raises NotImplementedError: replace "
                "`# YOUR CODE HERE` / `raise NotImplementedError()` with your job."
            )
        raise CheckFailed(f"the job failed in the worker: {reason or 'see the failed registry'}")
    result = job.return_value()
    if not isinstance(result, dict):
        raise CheckFailed(
            f"`research_job` returned {type(result).__name__}: return `result.as_dict()`."
        )
    return result


def _notifications(job: Job) -> int:
    return sum(1 for m in Inbox(INBOX).list() if m.job_id == job.id)


def check_job(module: ModuleType) -> None:
    """Bad input is refused; one question runs as a job with progress, an answer, one email."""
    queue = get_queue(QUEUE)
    before = queue.count
    for bad in ("", "   "):
        try:
            call_learner(module.submit, queue, bad)
        except ValueError:
            pass
        else:
            raise CheckFailed(
                f"`submit(queue, {bad!r})` enqueued a job: refuse an empty question "
                "with ValueError first (`check_question` does it)."
            )
    expect(queue.count == before, "a refused question must not leave a job in the queue.")
    with _workers():
        job = _submit(module, QUESTIONS[3])
        expect(
            job.retries_left,
            "enqueue the job with `retry=Retry(max=3)`: a crashed worker "
            "is retried (and, with checkpoints, resumed) only then.",
        )
        result = _wait(job)
    paragraphs = [p for p in str(result.get("answer", "")).split("\n\n") if p.strip()]
    expect(
        len(paragraphs) == 4,
        f"the answer has {len(paragraphs)} paragraphs, not 4: return "
        "`run_research(...)`'s result as `result.as_dict()`.",
    )
    expect(result.get("sources"), "the result lists no sources.")
    steps = {step for _, step in progress_history(job)}
    expect(
        {"searching", "reading"} <= steps,
        "no progress reached the job's meta: pass `progress=` a function that calls "
        f"`report_progress(event['percent'], event['step'], event['message'])` (saw {steps}).",
    )
    last = get_progress(job)
    expect(last is not None and last.percent == 100, "the last progress report should be 100%.")
    count = _notifications(job)
    expect(
        count == 1,
        f"{count} notifications for the job in inbox {INBOX!r}, expected 1: call "
        "`run.once('notify', notify, ...)` after the answer is ready.",
    )
    passed(
        f"one question as a job: {len(result.get('tool_calls', []))} tool calls, "
        f"{len(result['sources'])} sources, progress in meta, 1 notification"
    )


def check_crash(module: ModuleType) -> None:
    """A worker killed in the middle: the job resumes and redoes no finished step."""
    with _workers() as fleet:
        job = _submit(module, QUESTIONS[5])
        try:
            wait_until(
                lambda: (p := get_progress(job)) is not None and p.step == "notes", WAIT_REAL_S
            )
        except TimeoutError:
            raise CheckFailed(
                "the job never reported the step 'notes': is progress reported?"
            ) from None
        worker = fleet.busy_worker(job.id)
        expect(
            worker is not None, "no worker was running the job when the check wanted to crash it"
        )
        assert worker is not None
        fleet.kill(worker)
        wait_until(lambda: job.id in fleet.recover() or _status(job) != "started", 10.0)
        fleet.start()
        if _status(job) == "failed":
            raise CheckFailed(
                "after the crash RQ gave up on the job: enqueue it with "
                "`retry=Retry(max=3)` so that it is run again."
            )
        result = _wait(job)
    summary = summarize(audit_trail(job.id))
    expect(
        summary.attempts >= 2,
        "the job ran only once: the crash should have made RQ run it "
        "again. Did you use `with DurableRun.current() as run:`?",
    )
    expect(
        summary.steps_skipped > 0,
        "the second attempt started from scratch: pass `steps=run` to `run_research` so that "
        "every finished turn and tool call is checkpointed and replayed.",
    )
    expect(
        summary.finished_steps_reexecuted == 0,
        f"{summary.finished_steps_reexecuted} finished steps ran again after the crash.",
    )
    count = _notifications(job)
    expect(
        count == 1,
        f"{count} notifications after the crash, expected exactly 1: send it with "
        "`run.once(...)` and its idempotency key `run.key('notify')`.",
    )
    expect(
        len(str(result.get("answer", "")).split("\n\n")) == 4, "the resumed answer is incomplete."
    )
    passed(
        f"crash mid-research: {summary.steps_skipped} steps replayed from checkpoints, "
        f"0 finished steps redone, {summary.interrupted_steps} interrupted step run again, "
        "1 notification"
    )


def check_edge_and_results(module: ModuleType, count: int = 12) -> None:
    """The chat box and your job through the same 60 s edge, then the results table."""
    try:
        call_learner(module.submit, get_queue(QUEUE), "")
    except ValueError:
        pass
    else:
        raise CheckFailed("`submit(queue, '')` accepted an empty question: run check_job first.")
    questions = QUESTIONS[:count]
    v1 = summarize_runs(measure_chat(questions))
    runs = measure_jobs(questions, "v2", submit=module.submit)
    yours = summarize_runs(runs)
    rows = [
        ("cut by the 60 s edge", f"{v1.timeout_rate:.0%}", f"{yours.timeout_rate:.0%}"),
        (
            "user left, never saw the answer",
            f"{v1.abandonment_rate:.0%}",
            f"{yours.abandonment_rate:.0%}",
        ),
        ("answer reached the user", f"{v1.completion_rate:.0%}", f"{yours.completion_rate:.0%}"),
        (
            "cost per question",
            f"${v1.cost_per_question_usd:.4f}",
            f"${yours.cost_per_question_usd:.4f}",
        ),
        ("tool calls thrown away", str(v1.lost_tool_calls), str(yours.lost_tool_calls)),
    ]
    print(f"{'':34}{'v1 chat box':>14}{'your job':>12}")
    for name, left, right in rows:
        print(f"{name:34}{left:>14}{right:>12}")
    expect(
        yours.questions and any(r.finished for r in runs),
        "none of your jobs finished: run check_job first and fix what it reports.",
    )
    expect(
        yours.timeout_rate == 0,
        "some of your job's requests were cut by the edge: `submit` "
        "must only enqueue and return the id, not run the research.",
    )
    expect(
        yours.completion_rate > v1.completion_rate,
        "your job did not deliver more answers than the chat box: does it send the "
        "notification (so that users who left come back)?",
    )
    passed(
        f"through the edge: v1 cut {v1.timeout_rate:.0%} of requests, your job 0%; "
        f"answers delivered {v1.completion_rate:.0%} -> {yours.completion_rate:.0%}"
    )
