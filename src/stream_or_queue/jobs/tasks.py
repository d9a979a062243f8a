"""Job functions in an importable module, so that any worker - thread or process - can run them.

RQ stores a job as "module.function" plus pickled arguments; the worker imports the
module and calls the function. A function defined in a notebook cell lives in
`__main__`, which another process cannot import, so RQ refuses it. Everything a
worker runs in this course lives in modules like this one.

The report is the course's "two-minute task": for each section it gathers data
(`config.REPORT_GATHER_S` simulated seconds) and asks the model to write the
section - about two simulated minutes for four sections. `slow_report` is the
synchronous version a web handler would run while the user waits; `report_job` is
the same work as a background job that reports its progress.

Each job keeps its own simulated clock (`schedule.JobSchedule`: its stated waits plus
the simulator's schedule for each model call), so a report says exactly how long it
took (`seconds`) and when each progress report happened (`at_s`), on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import clock, config
from .progress import report_progress
from .schedule import JobSchedule

__all__ = [
    "REPORT_SECTIONS",
    "add",
    "always_fails",
    "assemble",
    "chat_reply",
    "flaky",
    "noop",
    "report_job",
    "sleep_for",
    "slow_report",
    "write_section",
]

REPORT_SECTIONS: tuple[str, ...] = ("Summary", "Findings", "Risks", "Recommendations")


def write_section(
    topic: str, title: str, *, words: int = config.REPORT_SECTION_WORDS
) -> dict[str, Any]:
    """Gather data for one section, then have the model write it (one API call).

    `seconds` is the section's simulated duration by its schedule: the gathering
    plus the model call's scheduled time.
    """
    from ..llm import client, cost  # here: importing the jobs package skips the SDK's imports

    schedule = JobSchedule()
    schedule.sleep(config.REPORT_GATHER_S)  # stands for queries, downloads, tool calls
    message = schedule.create(
        client(),
        model=config.LARGE_MODEL,
        max_tokens=4 * words,
        messages=[
            {
                "role": "user",
                "content": (
                    f'Write a {words}-word section titled "{title}" for a report on {topic}.'
                ),
            }
        ],
    )
    text = "".join(block.text for block in message.content if block.type == "text")
    return {
        "title": title,
        "text": text,
        "input_tokens": message.usage.input_tokens,
        "output_tokens": message.usage.output_tokens,
        "cost_usd": cost(message.usage, config.LARGE_MODEL),
        "seconds": round(schedule.elapsed_s, 3),
    }


def assemble(topic: str, sections: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's result: the sections' titles and texts, total words, cost and seconds.

    `seconds` is the report's simulated duration by its schedule, one section after
    the other (0 for sections that do not say how long they took).
    """
    return {
        "topic": topic,
        "sections": [{"title": s["title"], "text": s["text"]} for s in sections],
        "words": sum(len(s["text"].split()) for s in sections),
        "cost_usd": round(sum(s["cost_usd"] for s in sections), 6),
        "seconds": round(sum(float(s.get("seconds", 0.0)) for s in sections), 3),
    }


def slow_report(topic: str, sections: Sequence[str] = REPORT_SECTIONS) -> dict[str, Any]:
    """The report, synchronously: about two simulated minutes with nothing to show."""
    return assemble(topic, [write_section(topic, title) for title in sections])


def report_job(topic: str, sections: Sequence[str] = REPORT_SECTIONS) -> dict[str, Any]:
    """The same report as a background job: identical result, progress in `job.meta`.

    Each progress report carries `at_s`, the simulated second of the job's own
    schedule at which the section started.
    """
    written: list[dict[str, Any]] = []
    at_s = 0.0
    for i, title in enumerate(sections):
        message = f"section {i + 1} of {len(sections)}: {title}"
        report_progress(100 * i / len(sections), title.lower(), message, at_s=at_s)
        written.append(write_section(topic, title))
        at_s += written[-1]["seconds"]
    report_progress(100, "done", "report ready", at_s=at_s)
    return assemble(topic, written)


# --- small jobs for demonstrations, tests and benchmarks ----------------------------


def chat_reply(question: str, max_tokens: int = 400) -> dict[str, Any]:
    """One chat turn run as a background job: the anti-pattern notebook 05 measures.

    The reply is written in full on a worker and stored; the user sees its first
    word only when the client's next poll finds the job finished - never while
    the model is still writing, as a stream would show it. `seconds` is how long
    the worker took by the call's schedule.
    """
    from ..llm import client  # here: importing the jobs package skips the SDK's imports

    if not question.strip():
        raise ValueError("question must not be empty")
    schedule = JobSchedule()
    message = schedule.create(
        client(),
        model=config.LARGE_MODEL,
        max_tokens=max_tokens,
        messages=[{"role": "user", "content": question}],
    )
    text = "".join(block.text for block in message.content if block.type == "text")
    return {
        "text": text,
        "output_tokens": message.usage.output_tokens,
        "seconds": round(schedule.elapsed_s, 3),
    }


def noop() -> None:
    """Does nothing: measures the queue's own overhead."""


def add(a: int, b: int) -> int:
    return a + b


def sleep_for(sim_seconds: float) -> float:
    """Sleep `sim_seconds` of simulated time, reporting progress every tenth."""
    for i in range(10):
        report_progress(10 * i, "sleeping", at_s=sim_seconds * i / 10)
        clock.sleep(sim_seconds / 10)
    report_progress(100, "done", at_s=sim_seconds)
    return sim_seconds


def always_fails(message: str = "the upstream API returned 500") -> None:
    """Raises, so that the job lands in the failed-job registry with its traceback."""
    raise RuntimeError(message)


def flaky(failures: int, key: str) -> int:
    """Fails its first `failures` attempts, then succeeds; returns the attempt number.

    Attempts are counted in Redis under `key`, so they add up across retries and
    across worker processes.
    """
    from rq import get_current_job

    from .connection import get_redis

    job = get_current_job()
    connection = job.connection if job is not None else get_redis()
    attempt = int(connection.incr(f"soq:attempts:{key}"))
    if attempt <= failures:
        raise ConnectionError(f"attempt {attempt}: upstream API unavailable (simulated)")
    return attempt
