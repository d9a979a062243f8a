"""Checks for lab 08: make a three-step pipeline resumable.

The learner writes `resumable_pipeline(run, document)`: `extract` the text, have
the model `summarize` it, `publish` the summary - each through the `DurableRun`
it is given, so that a crashed run resumes where it stopped. The checks run it
as a real RQ job on an in-process worker, kill that worker in the middle of the
summary (`ThreadWorker.kill()`: from then on it cannot touch Redis), hand the job
back to RQ (`recover_abandoned`) and watch a second worker finish it.

RQ refuses job functions defined in a notebook, so the job is `lab_job` (this
module); it calls the learner's function, which the check registers under a
key in this process - that is why the lab uses worker threads, not processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Retry, get_current_job
from rq.job import Job, JobStatus

from .. import clock, config
from ..durable import DurableRun, Outbox, audit_trail, recover_abandoned, wait_until
from ..jobs import ThreadWorker, get_redis
from . import CheckFailed, call_learner, expect, passed

__all__ = [
    "DOCUMENT",
    "EXTRACT_S",
    "SUMMARIZE_S",
    "check_finishes",
    "check_memo",
    "check_publishes_once",
    "check_resumes_after_a_crash",
    "executions",
    "extract",
    "lab_job",
    "publish",
    "summarize",
]

EXTRACT_S = 10.0
SUMMARIZE_S = 60.0
"""Simulated seconds: the summary is the slow step (0.6 real s), where the check kills."""

DOCUMENT = """Quarterly support report.
Tickets rose 12% in March, mostly password resets after the login change.
Median first response fell from 4 hours to 2 hours once the night shift started.
Customers asked for an export button more than for any other feature.
Refund requests stayed flat at 1.5% of orders."""

OUTBOX = "lab08"
_PIPELINES: dict[str, Callable[..., Any]] = {}


def _connection() -> redis.Redis:
    """The running job's connection (a killed worker's fails), else the course's Redis."""
    job = get_current_job()
    return job.connection if job is not None else get_redis()


def _count(step: str) -> None:
    job = get_current_job()
    _connection().hincrby(f"lab08:{job.id if job else 'direct'}:runs", step, 1)


def executions(job_id: str, connection: redis.Redis | None = None) -> dict[str, int]:
    """How many times each step function started for `job_id`, across attempts."""
    raw: Any = (connection or get_redis()).hgetall(f"lab08:{job_id}:runs")
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


def extract(document: str) -> str:
    """Step 1: the document's text, one line per sentence (quick)."""
    _count("extract")
    clock.sleep(EXTRACT_S)
    return "\n".join(line.strip() for line in document.strip().splitlines() if line.strip())


def summarize(text: str) -> str:
    """Step 2: the model summarizes the text (slow, and it costs tokens)."""
    from .. import client

    _count("summarize")
    clock.sleep(SUMMARIZE_S)  # a busy model: this is where the check kills the worker
    reply = client().messages.create(
        model=config.FAST_MODEL,
        max_tokens=120,
        messages=[{"role": "user", "content": f"Summarize this report in two sentences:\n{text}"}],
    )
    return "".join(block.text for block in reply.content if block.type == "text")


def publish(key: str, summary: str) -> dict[str, Any]:
    """Step 3: send the summary to the team channel (a side effect: once per job!).

    `key` is the idempotency key: the channel keeps one message per key.
    """
    _count("publish")
    delivered = Outbox(OUTBOX, _connection()).send(key, {"summary": summary})
    return {"key": key, "delivered": delivered}


def lab_job(pipeline_key: str, document: str, fail_once_at_end: bool = False) -> Any:
    """The RQ job: run the registered learner pipeline inside a `DurableRun`.

    `fail_once_at_end` makes the first attempt fail *after* the pipeline returned -
    as if the worker died while saving the result - so RQ runs it all again.
    """
    pipeline = _PIPELINES.get(pipeline_key)
    if pipeline is None:
        raise LookupError("the lab pipeline is registered only in the process that runs the check")
    with DurableRun.current() as run:
        result = pipeline(run, document)
        if fail_once_at_end and run.attempt == 1:
            raise RuntimeError("the worker died after publishing, before the job was saved")
        return result


# --- the checks ----------------------------------------------------------------------------


def _dry_run(pipeline: Callable[..., Any]) -> Any:
    """Call the pipeline directly once: a NotImplementedError becomes a helpful failure."""
    run = DurableRun(f"lab08-direct-{secrets.token_hex(4)}", get_redis())
    return call_learner(pipeline, run, DOCUMENT)


def _start(
    pipeline: Callable[..., Any], *, retries: int, fail_once_at_end: bool = False
) -> tuple[Queue, Job, ThreadWorker]:
    key = secrets.token_hex(6)
    _PIPELINES[key] = pipeline
    queue = Queue(f"lab08-{key}", connection=get_redis())
    job = queue.enqueue(
        lab_job, key, DOCUMENT, fail_once_at_end, retry=Retry(max=retries) if retries else None
    )
    worker = ThreadWorker(
        [queue.name], connection=queue.connection, name=f"lab08-{secrets.token_hex(3)}"
    ).start()
    return queue, job, worker


def _wait_ended(job: Job, timeout_s: float = 60.0) -> JobStatus | None:
    wait_until(
        lambda: job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED),
        timeout_s,
        0.02,
        "the lab job to end",
    )
    return job.get_status(refresh=True)


def _explain_failure(job: Job) -> str:
    result = job.latest_result()
    text = result.exc_string if result is not None else ""
    last = (text or "").strip().splitlines()[-1:] or ["(no error recorded)"]
    return f"The job failed with: {last[0]}"


def check_finishes(pipeline: Callable[..., Any]) -> None:
    """Without crashes: every step runs once, through `run`, and the summary comes back."""
    result = _dry_run(pipeline)
    expect(
        isinstance(result, dict)
        and isinstance(result.get("summary"), str)
        and result["summary"].strip(),
        f"resumable_pipeline should return a dict with a non-empty 'summary' string (and the "
        f"'receipt' from publish); it returned {result!r}.",
    )
    _, job, worker = _start(pipeline, retries=0)
    try:
        status = _wait_ended(job)
    finally:
        worker.stop()
    expect(status == JobStatus.FINISHED, _explain_failure(job))
    runs = executions(job.id)
    expect(
        runs == {"extract": 1, "summarize": 1, "publish": 1},
        f"Each step should run exactly once in a run without crashes; they ran {runs}. Call "
        "extract, then summarize, then publish - each once.",
    )
    steps = {
        e.name for e in audit_trail(job.id) if e.kind in ("step", "once") and e.outcome == "done"
    }
    expect(
        len(steps) >= 3,
        "The steps ran, but not through `run`, so nothing was checkpointed and a crash would "
        'start over. Wrap each call: `text = run.step("extract", extract, document)`, the '
        "same for summarize, and "
        '`run.once("publish", publish, run.key("publish"), summary)`.',
    )
    passed(f"the pipeline finishes and checkpoints its three steps ({', '.join(sorted(steps))}).")


def check_resumes_after_a_crash(pipeline: Callable[..., Any]) -> None:
    """Kill the worker during `summarize`; a new worker must resume, not start over."""
    _dry_run(pipeline)
    queue, job, worker = _start(pipeline, retries=2)
    second: ThreadWorker | None = None
    try:
        wait_until(
            lambda: executions(job.id).get("summarize", 0) >= 1,
            30,
            0.01,
            "the summarize step to start",
        )
        expect(executions(job.id).get("extract") == 1, "extract should run before summarize.")
        worker.kill()  # mid-summary: the worker can no longer talk to Redis
        dead = worker.worker.name if worker.worker is not None else ""
        expect(
            job.get_status(refresh=True) == JobStatus.STARTED,
            "After the crash the job should still be 'started' (nobody finished it).",
        )
        second = ThreadWorker([queue.name], connection=queue.connection).start()
        recover_abandoned(queue, [dead])  # RQ's abandoned-job cleanup: re-enqueue it
        status = _wait_ended(job)
    finally:
        if second is not None:
            second.stop()
    expect(status == JobStatus.FINISHED, _explain_failure(job))
    runs = executions(job.id)
    expect(
        runs.get("extract") == 1,
        f"extract ran {runs.get('extract')} times: after the crash the retry ran it again. A "
        "step that finished before the crash must come from its checkpoint - call it through "
        '`run.step("extract", extract, document)`.',
    )
    expect(
        runs.get("summarize") == 2,
        f"summarize ran {runs.get('summarize')} times; it was cut short by the crash, so it "
        "must run once more (2 in all) - its first run never returned a result to store.",
    )
    expect(
        Outbox(OUTBOX).count(job.id) == 1,
        "The summary should be published exactly once after the crash.",
    )
    passed(
        "killed during the summary, the job resumed on a new worker: extract ran once, "
        "summarize twice (the interrupted step), publish once."
    )


def check_publishes_once(pipeline: Callable[..., Any]) -> None:
    """A retry after publishing must not publish again."""
    _dry_run(pipeline)
    _, job, worker = _start(pipeline, retries=1, fail_once_at_end=True)
    try:
        status = _wait_ended(job)
    finally:
        worker.stop()
    expect(status == JobStatus.FINISHED, _explain_failure(job))
    published = Outbox(OUTBOX).count(job.id)
    runs = executions(job.id)
    if published != 1:
        raise CheckFailed(
            f"The job ran twice (the first attempt failed after publishing) and the team got "
            f"{published} messages; publish ran {runs.get('publish')} times. A side effect "
            'must happen once per job: `run.once("publish", publish, run.key("publish"), '
            "summary)` records that it was done, and `run.key(...)` gives the channel a key "
            "that stays the same on every attempt."
        )
    expect(
        runs.get("publish") == 1,
        f"publish ran {runs.get('publish')} times; the channel dropped the duplicate, but the "
        "second attempt should not have called it at all - use run.once.",
    )
    passed("after a failed attempt the retry skipped every finished step: one message published.")


def _log_step(log: Path, name: str) -> None:
    with log.open("a") as out:  # one short line per step: the parent reads what ran
        out.write(name + "\n")


def _first_run(memo_class: Callable[[Path], Any], path: Path, log: Path) -> None:
    """The workflow's first run, in a child process that is killed inside step two."""

    def body(name: str) -> str:
        _log_step(log, name)
        return name.upper()

    def long(name: str) -> str:
        _log_step(log, name)
        time.sleep(60)  # killed long before this ends
        return name.upper()

    memo = memo_class(path)
    memo.step("one", body, "one")
    memo.step("two", long, "two")


def check_memo(memo_class: Callable[[Path], Any]) -> None:
    """The learner's step memoization, killed with SIGKILL in the middle of a workflow.

    The workflow's first run is a real child process: step one finishes, and the
    process is killed (`kill -9`) while step two runs. A new instance on the same
    file - what a restarted process builds - then runs the workflow from the top.
    Only the interrupted step may run again.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dry = call_learner(memo_class, folder / "dry.json")  # learner errors show here
        expect(
            call_learner(dry.step, "one", str.upper, "one") == "ONE",
            "step() must return what the step returns",
        )
        path, log = folder / "run.json", folder / "ran.txt"
        child = multiprocessing.get_context("fork").Process(
            target=_first_run, args=(memo_class, path, log), daemon=True
        )
        child.start()
        deadline = time.monotonic() + 30
        while "two" not in (log.read_text().split() if log.exists() else []):
            if not child.is_alive() or time.monotonic() > deadline:
                child.kill()
                child.join()
                raise CheckFailed(
                    "the first run stopped before step two started: run "
                    "Memo(path).step('one', fn, 'one') and then step 'two' yourself to see why"
                )
            time.sleep(0.01)
        os.kill(child.pid or 0, signal.SIGKILL)  # kill -9 inside step two
        child.join()
        expect(
            path.exists(),
            "nothing was written to the file: a restarted process would "
            "find no record of step 'one' (write the record after each step)",
        )
        expect(
            "two" not in json.loads(path.read_text() or "{}"),
            "the record claims step 'two' finished, but its body never returned",
        )

        def body(name: str) -> str:
            _log_step(log, name)
            return name.upper()

        again = call_learner(memo_class, path)
        results = [again.step(n, body, n) for n in ("one", "two", "three")]
        expect(results == ["ONE", "TWO", "THREE"], f"the rerun returned {results}")
        ran = log.read_text().split()
        expect(
            ran.count("one") == 1,
            "step 'one' had finished, yet it ran again after the "
            "crash: a new instance must read the record from the file",
        )
        expect(
            ran.count("two") == 2 and ran.count("three") == 1,
            f"expected 'two' to run again (it was cut short) and 'three' once; ran {ran}",
        )
    passed(
        "killed with SIGKILL inside step two, rerun from the top: step one came from the "
        "record, only the interrupted step ran again"
    )
