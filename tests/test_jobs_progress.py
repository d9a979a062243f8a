"""Progress in job meta: checked input, a no-op outside a job, readable while the job runs."""

from __future__ import annotations

import math

import pytest
from jobs_support import Backend
from support import wait_until

from stream_or_queue import jobs
from stream_or_queue.jobs import report_progress, tasks
from stream_or_queue.jobs.progress import HISTORY_LIMIT


def test_outside_a_job_it_is_a_no_op() -> None:
    assert report_progress(50, "writing", "half way") is None


@pytest.mark.parametrize(
    ("percent", "step", "message", "error"),
    [
        (-1, "x", "", ValueError),
        (101, "x", "", ValueError),
        (math.nan, "x", "", ValueError),
        ("50", "x", "", TypeError),
        (True, "x", "", TypeError),
        (10, "", "", ValueError),
        (10, "x" * 65, "", ValueError),
        (10, "x", "m" * 501, ValueError),
        (10, "x", None, ValueError),
    ],
)
def test_bad_progress_is_refused_even_outside_a_job(
    percent: object, step: object, message: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        report_progress(percent, step, message)  # type: ignore[arg-type]


@pytest.mark.slow
def test_progress_is_readable_while_the_job_runs(backend: Backend) -> None:
    job = jobs.get_queue().enqueue(tasks.sleep_for, 300.0)  # 3 s real
    assert jobs.get_progress(job) is None
    with jobs.start_workers(1):
        wait_until(
            lambda: (p := jobs.get_progress(job)) is not None and 0 < p.percent < 100,
            what="progress between 0 and 100 while the job runs",
        )
        assert job.get_status(refresh=True) == "started"
        jobs.wait(job)
    progress = jobs.get_progress(job)
    assert progress is not None and progress.percent == 100 and progress.step == "done"
    percents = [p for p, _ in jobs.progress_history(job)]
    assert percents == sorted(percents) and percents[-1] == 100


def test_history_is_bounded(backend: Backend) -> None:
    job = jobs.get_queue().enqueue(tasks.noop)
    for i in range(HISTORY_LIMIT + 20):
        report_progress(min(i, 100), "step", job=job)
    history = jobs.progress_history(job)
    assert len(history) == HISTORY_LIMIT and history[-1] == (100.0, "step")


def test_reports_that_say_when_they_happened_make_a_timeline(backend: Backend) -> None:
    job = jobs.get_queue().enqueue(tasks.noop)
    report_progress(0, "summary", job=job, at_s=0)
    report_progress(50, "risks", job=job)  # no schedule given: not on the timeline
    report_progress(100, "done", job=job, at_s=54.25)
    assert jobs.progress_timeline(job) == [(0.0, 0.0, "summary"), (54.25, 100.0, "done")]
    assert jobs.progress_history(job) == [(0.0, "summary"), (50.0, "risks"), (100.0, "done")]
    latest = jobs.get_progress(job)
    assert latest is not None and latest.at_s == 54.25


@pytest.mark.parametrize("at_s", [-1.0, math.nan, math.inf, "5", True])
def test_a_bad_schedule_time_is_refused(at_s: object) -> None:
    with pytest.raises(ValueError, match="at_s must be"):
        report_progress(10, "x", at_s=at_s)  # type: ignore[arg-type]
