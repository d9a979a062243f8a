"""Labs 05 and 07: plausible wrong solutions are caught, with what was observed.

Each test writes what a learner plausibly writes - progress that says 100% one
section early, a report enqueued twice, bad input checked after enqueueing, a batch
run that never retries, custom_ids numbered instead of taken from the prompts - and
runs the lab's real check on it (real RQ workers on fakeredis, the simulator's
Batches API).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import anthropic
import pytest
from rq import Callback, Queue

from stream_or_queue import config
from stream_or_queue.course import setup
from stream_or_queue.jobs.mail import check_address
from stream_or_queue.jobs.notify import notify_failure, notify_success
from stream_or_queue.labs import CheckFailed, lab05, lab07

# --- lab 05 ---------------------------------------------------------------------------------

REPORT_JOBS = """
from stream_or_queue.jobs import report_progress
from stream_or_queue.jobs.tasks import REPORT_SECTIONS, assemble, write_section


def report_job(topic, sections=REPORT_SECTIONS):
    written = []
    for i, title in enumerate(sections):
        report_progress(100 * {share} / len(sections), title.lower(), f"writing {{title}}")
        written.append(write_section(topic, title))
    report_progress(100, "done", "report ready")
    return assemble(topic, written)
"""


def job_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, share: str
) -> ModuleType:
    (tmp_path / f"{name}.py").write_text(REPORT_JOBS.format(share=share))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, name, raising=False)
    setup(seed=0, quiet=True)
    return lab05.load_job_module(name)


def test_lab05_the_right_progress_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab05.check_report_job(job_module(tmp_path, monkeypatch, "report_jobs_right", "i"))
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_lab05_progress_that_says_done_one_section_early_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = job_module(tmp_path, monkeypatch, "report_jobs_early", "(i + 1)")
    with pytest.raises(CheckFailed, match=r"said 100% before the last section") as info:
        lab05.check_report_job(module)
    assert "[50.0, 100.0, 100.0]" in str(info.value), "the message shows what was observed"


def _enqueue(queue: Queue, topic: str, email: str) -> Any:
    from stream_or_queue.jobs.tasks import report_job

    return queue.enqueue(
        report_job,
        topic,
        meta={"notify_email": email},
        on_success=Callback(notify_success),
        on_failure=Callback(notify_failure),
    )


def test_lab05_a_report_enqueued_twice_is_caught() -> None:
    setup(seed=0, quiet=True)

    def twice(queue: Queue, topic: str, email: str) -> str:
        if not isinstance(topic, str) or not topic.strip():
            raise ValueError("the topic is empty")
        check_address(email)
        _enqueue(queue, topic.strip(), email)  # "to test it", left in
        return str(_enqueue(queue, topic.strip(), email).id)

    with pytest.raises(CheckFailed, match=r"left 2 jobs in the queue.*Enqueue once"):
        lab05.check_start_report(twice)


def test_lab05_checking_the_address_after_enqueueing_is_caught() -> None:
    setup(seed=0, quiet=True)

    def late(queue: Queue, topic: str, email: str) -> str:
        job = _enqueue(queue, topic, email)
        check_address(email)
        if not topic.strip():
            raise ValueError("the topic is empty")
        return str(job.id)

    with pytest.raises(CheckFailed, match="only then refused it: check first"):
        lab05.check_start_report(late)


# --- lab 07 ---------------------------------------------------------------------------------


def _requests(prompts: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": cid,
            "params": {
                "model": config.FAST_MODEL,
                "max_tokens": 200,
                "messages": [{"role": "user", "content": text}],
            },
        }
        for cid, text in prompts
    ]


def _submit_and_wait(api: anthropic.Anthropic, requests: list[dict[str, Any]]) -> Any:
    from stream_or_queue import clock

    batch = api.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    while batch.processing_status != "ended":
        clock.sleep(30.0)
        batch = api.messages.batches.retrieve(batch.id)
    return batch


def test_lab07_custom_ids_numbered_from_one_are_caught() -> None:
    def numbered(prompts: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        return _requests((f"req-{n}", text) for n, (_, text) in enumerate(prompts, start=1))

    with pytest.raises(CheckFailed, match="Use the prompt's own id as custom_id"):
        lab07.check_to_requests(numbered)


def test_lab07_a_run_that_never_retries_is_caught() -> None:
    def one_round(api: anthropic.Anthropic, requests: list[dict[str, Any]]) -> dict[str, Any]:
        batch = _submit_and_wait(api, requests)
        return {
            entry.custom_id: entry.result.message
            for entry in api.messages.batches.results(batch.id)
            if entry.result.type == "succeeded"
        }

    with pytest.raises(CheckFailed, match="a second batch is needed"):
        lab07.check_run_all(one_round)
