"""Checks for lab 05: the slow report as a background job, with progress and an email.

The learner writes `report_jobs.py` (a module next to the notebook, because a
worker imports job functions by module and name) with `report_job(topic,
sections)`, and `start_report(queue, topic, email)` in the notebook. The checks
run the job on a real RQ worker - a thread on fakeredis, an `rq worker` process
when REDIS_URL is set - and read what any client would read: the job's status,
progress and result in Redis, and the inbox the completion email lands in.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from types import ModuleType
from typing import Any

from rq import Queue
from rq.job import Job

from ..jobs import (
    Inbox,
    JobNotFound,
    MailCatcher,
    describe,
    fetch,
    get_queue,
    notify_failure,
    notify_success,
    progress_history,
    start_workers,
    wait,
)
from ..jobs.tasks import REPORT_SECTIONS
from . import CheckFailed, call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "LAB_EMAIL",
    "LAB_QUEUE",
    "check_notification",
    "check_report_job",
    "check_start_report",
    "hint",
    "load_job_module",
    "report",
]

LAB_QUEUE = "lab05"
LAB_INBOX = "lab05"
LAB_EMAIL = "you@example.com"
LAB_TOPIC = "heat pumps"
SHORT_SECTIONS = ("Summary", "Risks")
RESULT_WAIT_S = 120.0


def load_job_module(name: str = "report_jobs") -> ModuleType:
    """Import (or re-import, after an edit) the job module written next to the notebook."""
    if not name.isidentifier():
        raise ValueError(f"not a module name: {name!r}")
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    importlib.invalidate_caches()
    try:
        if name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise CheckFailed(
            f"There is no {name}.py next to this notebook yet: run the `%%writefile {name}.py` "
            "cell above first."
        ) from None
    except SyntaxError as exc:
        raise CheckFailed(f"{name}.py does not compile: {exc}") from None


def _check_report(result: Any, sections: tuple[str, ...], where: str) -> None:
    expect(
        isinstance(result, dict),
        f"{where} should be the report dictionary (what `assemble(topic, written)` returns), "
        f"got {type(result).__name__}.",
    )
    expect(
        {"topic", "sections", "words", "cost_usd"} <= set(result),
        f"{where} lacks some of the report's keys (topic, sections, words, cost_usd): "
        "return `assemble(topic, written)`.",
    )
    titles = [s.get("title") for s in result["sections"]]
    expect(
        titles == list(sections),
        f"{where} has the sections {titles}, expected {list(sections)}: write one section "
        "per title, in order.",
    )
    expect(
        all(
            isinstance(s.get("text"), str) and len(s["text"].split()) > 10
            for s in result["sections"]
        ),
        f"{where} has an empty section: keep what `write_section(topic, title)` returns.",
    )
    expect(
        result["topic"] == LAB_TOPIC, f"{where} is about {result['topic']!r}, not {LAB_TOPIC!r}."
    )


def _check_progress(job: Job, sections: tuple[str, ...]) -> list[tuple[float, str]]:
    history = progress_history(job)
    expect(
        history,
        "The job finished without reporting any progress: call `report_progress(percent, "
        "step, message)` before each section and `report_progress(100, 'done')` at the end.",
    )
    percents = [p for p, _ in history]
    expect(
        len(history) >= len(sections) + 1,
        f"The job reported progress {len(history)} time(s) for {len(sections)} sections: "
        "report once before each section, and once more (100) when done.",
    )
    expect(percents == sorted(percents), f"Progress went down: {percents}. It should only grow.")
    expect(
        percents[0] < 100 and percents[-1] == 100,
        f"Progress should start below 100 and end at 100; it went {percents}.",
    )
    early = [p for p in percents[:-1] if p >= 100]
    expect(
        not early,
        f"Progress went {percents}: it said 100% before the last section was written, so a "
        "user would read 'done' while work remains. Before each section, report the share "
        "of sections already finished (none, for the first).",
    )
    return history


def _run(job: Job) -> None:
    """Run the lab queue with one worker until `job` ends."""
    with start_workers(1, queues=[LAB_QUEUE]):
        try:
            wait(job, timeout=RESULT_WAIT_S)
        except TimeoutError:
            raise CheckFailed(
                f"The job did not finish within {RESULT_WAIT_S:.0f} s: is something in it "
                "waiting forever?"
            ) from None
    view = describe(job)
    if view.status != "finished":
        hint = ""
        if view.error and "NotImplementedError" in view.error:
            hint = " - `report_job` in report_jobs.py still raises NotImplementedError."
        raise CheckFailed(f"The job {view.status}: {view.error}{hint}")


def check_report_job(module: ModuleType) -> None:
    """`module.report_job(topic, sections)`: the report, with progress, runnable by a worker."""
    report_job = getattr(module, "report_job", None)
    expect(callable(report_job), f"{module.__name__}.py has no function `report_job`.")
    assert callable(report_job)
    expect(
        report_job.__module__ != "__main__",
        "report_job must come from the module, not from a notebook cell: RQ refuses __main__.",
    )
    direct = call_learner(report_job, LAB_TOPIC, SHORT_SECTIONS)
    _check_report(direct, SHORT_SECTIONS, "`report_job(...)` called directly")
    queue = get_queue(LAB_QUEUE)
    job = queue.enqueue(report_job, LAB_TOPIC, SHORT_SECTIONS)
    _run(job)
    history = _check_progress(job, SHORT_SECTIONS)
    _check_report(job.return_value(), SHORT_SECTIONS, "The job's result")
    passed(
        f"report_job ran on a worker; progress went {[p for p, _ in history]} and the result "
        "has every section."
    )


BAD_INPUT = [
    ("", LAB_EMAIL, "a blank topic"),
    ("   ", LAB_EMAIL, "a topic of spaces"),
    (LAB_TOPIC, "not-an-address", "an address without '@'"),
    (LAB_TOPIC, "you@example.com\nBcc: eve@example.com", "an address with a line break"),
]


def check_start_report(start_report: Any) -> None:
    """`start_report(queue, topic, email)`: checked input, callbacks, returns the job id."""
    queue = get_queue(LAB_QUEUE)
    queue.empty()
    for topic, email, what in BAD_INPUT:
        try:
            call_learner(start_report, queue, topic, email)
        except ValueError:
            pass
        else:
            raise CheckFailed(
                f"start_report accepted {what}: raise ValueError before enqueueing "
                "(`check_address(email)` checks addresses)."
            )
        expect(
            queue.count == 0,
            f"start_report enqueued a job for {what} and only then refused it: check first.",
        )
    job_id = call_learner(start_report, queue, LAB_TOPIC, LAB_EMAIL)
    expect(isinstance(job_id, str), f"Return the job's id (`job.id`, a string), not {job_id!r}.")
    try:
        job = fetch(job_id)
    except JobNotFound:
        raise CheckFailed(f"No job has the id {job_id!r} that start_report returned.") from None
    try:
        expect(
            queue.count == 1,
            f"One call of start_report left {queue.count} jobs in the queue: the report would "
            "be written (and the email sent) that many times. Enqueue once.",
        )
        expect(job.origin == LAB_QUEUE, "Enqueue on the `queue` passed to start_report.")
        expect(
            (job.func_name or "").endswith(".report_job"),
            f"The job runs {job.func_name}: enqueue `report_jobs.report_job`.",
        )
        expect(job.args[:1] == (LAB_TOPIC,), f"Pass the topic to the job; it got {job.args}.")
        expect(
            job.meta.get("notify_email") == LAB_EMAIL,
            'Put the address in the job\'s meta: `meta={"notify_email": email}`.',
        )
        expect(
            job.success_callback is notify_success,
            "Pass `on_success=Callback(notify_success)`: that callback sends the email.",
        )
        expect(
            job.failure_callback is notify_failure,
            "Pass `on_failure=Callback(notify_failure)`: a failure deserves an email too.",
        )
    finally:
        job.delete()
        queue.empty()  # a second job a wrong start_report left behind
    passed("start_report refuses bad input before enqueueing and enqueues the job with callbacks.")


def check_notification(start_report: Any) -> None:
    """End to end: the job runs, its progress grows, exactly one email arrives."""
    inbox = Inbox(LAB_INBOX)
    inbox.clear()
    with MailCatcher(inbox):
        queue: Queue = get_queue(LAB_QUEUE)
        job_id = call_learner(start_report, queue, LAB_TOPIC, LAB_EMAIL)
        try:
            job = fetch(job_id)
        except JobNotFound:
            raise CheckFailed(f"No job has the id {job_id!r} that start_report returned.") from None
        _run(job)
        _check_progress(job, REPORT_SECTIONS)
        _check_report(job.return_value(), REPORT_SECTIONS, "The job's result")
        deadline = time.monotonic() + 10
        while not inbox.list(job_id=job.id) and time.monotonic() < deadline:
            time.sleep(0.02)
        emails = inbox.list(job_id=job.id)
        expect(
            len(emails) == 1,
            f"Expected one email about the job, found {len(emails)}: enqueue with "
            "`on_success=Callback(notify_success)` and the address in `meta['notify_email']`.",
        )
        expect(emails[0].to == LAB_EMAIL, f"The email went to {emails[0].to}, not {LAB_EMAIL}.")
        notify_success(job, job.connection, job.return_value())  # as a retry would
        expect(len(inbox.list(job_id=job.id)) == 1, "A second run of the callback sent again.")
    passed(
        f"The report finished on a worker and {LAB_EMAIL} got exactly one email: "
        f"{emails[0].subject!r}."
    )


LAB = LabProgress(
    "lab05",
    {
        "report_job": Help(
            hint="The job has no screen: before each section, write how far it is into the job's meta with report_progress(percent, step, message), and once more at the end.",
            answer="written = []\nfor i, title in enumerate(sections):\n    report_progress(100 * i / len(sections), title.lower(), f'writing {title}')\n    written.append(write_section(topic, title))\nreport_progress(100, 'done', 'report ready')\nreturn assemble(topic, written)",
        ),
        "start_report": Help(
            hint="Refuse bad input before anything is queued; then enqueue the job with the address in its meta and RQ callbacks for success and failure; return the id at once.",
            answer="if not isinstance(topic, str) or not topic.strip():\n    raise ValueError('the topic is empty')\ncheck_address(email)\njob = queue.enqueue(report_jobs.report_job, topic.strip(), meta={'notify_email': email},\n    on_success=Callback(notify_success), on_failure=Callback(notify_failure))\nreturn job.id",
        ),
        "notification": Help(
            hint="The email must come from the job's success callback, which may run more than once: the course's notify_success sends with an idempotency key, so one email arrives however often it runs.",
            answer="queue.enqueue(..., meta={'notify_email': email}, on_success=Callback(notify_success), on_failure=Callback(notify_failure))",
        ),
    },
)
check_report_job = LAB.check(check_report_job)
check_start_report = LAB.check(check_start_report)
check_notification = LAB.check(check_notification)
hint = LAB.hint
report = LAB.report
