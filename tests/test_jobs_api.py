"""The jobs API on fakeredis and a real Redis: enqueue, lifecycle, results, failures, bad input."""

from __future__ import annotations

import pytest
from jobs_support import Backend, failure_text
from rq import Queue
from rq.exceptions import NoSuchJobError

from stream_or_queue import config, jobs
from stream_or_queue.jobs import InvalidJobArguments, JobNotFound, tasks
from stream_or_queue.simulator import Simulator


def test_enqueue_returns_a_queued_job_with_an_id(backend: Backend) -> None:
    job = jobs.enqueue_report("heat pumps", notify_email="ana@example.com")
    assert isinstance(job.id, str) and len(job.id) >= 16
    fetched = jobs.fetch(job.id)
    assert fetched.get_status() == "queued"
    assert fetched.args == ("heat pumps", tasks.REPORT_SECTIONS)
    assert fetched.meta["notify_email"] == "ana@example.com"
    assert fetched.success_callback is jobs.notify_success
    assert fetched.failure_callback is jobs.notify_failure
    assert jobs.get_queue().count == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topic": ""}, "topic must be a non-empty string"),
        ({"topic": "   "}, "topic must be a non-empty string"),
        ({"topic": 42}, "topic must be a non-empty string"),
        ({"topic": "x" * 201}, "at most 200 characters"),
        ({"topic": "ok", "sections": "Summary"}, "list of section titles"),
        ({"topic": "ok", "sections": []}, "1 to 8 sections"),
        ({"topic": "ok", "sections": ["Summary", ""]}, "section title must be"),
        ({"topic": "ok", "notify_email": "not-an-address"}, "not a valid email address"),
        ({"topic": "ok", "notify_email": "a@b.com\nBcc: x@y.com"}, "not a valid email address"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_queued(
    backend: Backend, kwargs: dict[str, object], message: str
) -> None:
    rest = dict(kwargs)
    topic = rest.pop("topic")
    with pytest.raises(InvalidJobArguments, match=message):
        jobs.enqueue_report(topic, **rest)  # type: ignore[arg-type]
    assert jobs.get_queue().count == 0
    assert jobs.list_jobs() == []


def test_invalid_job_arguments_is_a_value_error() -> None:
    assert issubclass(InvalidJobArguments, ValueError)


def test_unknown_job_id_is_a_clear_error(backend: Backend) -> None:
    with pytest.raises(JobNotFound, match="no job with id 'no-such-job'") as info:
        jobs.fetch("no-such-job")
    assert info.value.job_id == "no-such-job"
    assert isinstance(info.value, NoSuchJobError)  # RQ's own handlers still catch it
    with pytest.raises(JobNotFound):
        jobs.fetch("")
    with pytest.raises(JobNotFound):
        jobs.wait("no-such-job")


def test_lifecycle_queued_started_finished_with_result_and_progress(
    backend: Backend, no_leaked_threads: None
) -> None:
    queue = jobs.get_queue()
    job = queue.enqueue(tasks.sleep_for, 20.0)
    assert job.get_status() == "queued"
    seen = set()
    with jobs.start_workers(1, kind="thread"):
        while job.get_status(refresh=True) not in jobs.TERMINAL_STATUSES:
            seen.add(job.get_status(refresh=False))
        jobs.wait(job)
    assert job.get_status() == "finished"
    assert "started" in seen or "queued" in seen
    assert job.return_value() == 20.0
    view = jobs.describe(job)
    assert view.status == "finished" and view.percent == 100.0 and view.result == 20.0
    assert view.enqueued_at is not None and view.started_at is not None and view.ended_at
    assert view.enqueued_at <= view.started_at <= view.ended_at
    assert [p for p, _ in jobs.progress_history(job)] == list(range(0, 101, 10))
    assert job.id in queue.finished_job_registry.get_job_ids()


def test_the_report_job_gives_the_same_report_as_the_sync_function(
    backend: Backend, simulator: Simulator
) -> None:
    job = jobs.enqueue_report("heat pumps", sections=["Summary", "Risks"])
    with jobs.start_workers(1):
        jobs.wait(job, timeout=60)
    assert job.get_status() == "finished", job.latest_result()
    report = job.return_value()
    assert report is not None
    sync = tasks.slow_report("heat pumps", sections=["Summary", "Risks"])
    assert report.keys() == sync.keys()
    assert [s["title"] for s in report["sections"]] == ["Summary", "Risks"]
    assert all(len(s["text"].split()) > 20 for s in report["sections"])
    assert report["topic"] == "heat pumps" and report["cost_usd"] > 0
    assert [step for _, step in jobs.progress_history(job)] == ["summary", "risks", "done"]
    # each section starts when the one before it ended, on the job's own schedule
    starts = [at_s for at_s, _, _ in jobs.progress_timeline(job)]
    assert starts[0] == 0 and starts == sorted(starts) and starts[-1] == report["seconds"]
    assert report["seconds"] > 2 * config.REPORT_GATHER_S


def test_a_job_that_raises_lands_in_the_failed_registry_with_its_traceback(
    backend: Backend,
) -> None:
    queue = jobs.get_queue()
    bad = queue.enqueue(tasks.always_fails, "the upstream API returned 500")
    good = queue.enqueue(tasks.add, 2, 3)
    with jobs.start_workers(1):
        jobs.wait(bad)
        jobs.wait(good)
    assert bad.get_status() == "failed"
    assert bad.id in queue.failed_job_registry.get_job_ids()
    traceback = failure_text(bad)
    assert "Traceback" in traceback and "always_fails" in traceback
    assert "RuntimeError: the upstream API returned 500" in traceback
    assert jobs.describe(bad).error == "RuntimeError: the upstream API returned 500"
    assert good.return_value() == 5  # one failure does not stop the queue
    # nothing lost: the failed job can be requeued and is still the same job
    queue.failed_job_registry.requeue(bad.id)
    assert jobs.fetch(bad.id).get_status() == "queued"


def test_list_jobs_shows_every_state(backend: Backend) -> None:
    queue = jobs.get_queue()
    done = queue.enqueue(tasks.add, 1, 1)
    failed = queue.enqueue(tasks.always_fails)
    with jobs.start_workers(1, kind="thread"):
        jobs.wait(done)
        jobs.wait(failed)
    waiting = queue.enqueue(tasks.noop)
    statuses = {view.id: view.status for view in jobs.list_jobs()}
    assert statuses == {done.id: "finished", failed.id: "failed", waiting.id: "queued"}
    assert [v.id for v in jobs.list_jobs(limit=2)] == [failed.id, waiting.id]


def test_wait_times_out_clearly_without_a_worker(backend: Backend) -> None:
    job = jobs.get_queue().enqueue(tasks.noop)
    with pytest.raises(TimeoutError, match="is a worker running"):
        jobs.wait(job, timeout=0.1)


def test_functions_from_main_are_refused(backend: Backend) -> None:
    def local() -> None:  # pragma: no cover - never runs
        pass

    local.__module__ = "__main__"
    with pytest.raises(ValueError, match="__main__"):
        Queue("default", connection=backend.connection).enqueue(local)


def test_list_jobs_shows_jobs_a_rate_limit_holds_back(backend: Backend) -> None:
    from rq import RateLimit

    queue = jobs.get_queue()
    limit = RateLimit("test-llm", concurrency=1)
    first, second = (queue.enqueue(tasks.noop, rate_limit=limit) for _ in range(2))
    other = jobs.get_queue("other").enqueue(tasks.noop, rate_limit=limit)
    statuses = {view.id: view.status for view in jobs.list_jobs()}
    assert statuses == {first.id: "queued", second.id: "rate_limited"}
    assert other.id in {v.id for v in jobs.list_jobs(["other"])}
