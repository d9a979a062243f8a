"""v1, v2 and v3 measured on the same questions and the same users, beside the article's claims.

Every figure of the results table comes from a run, never from a constant:

- `measure_chat` (v1): every question is asked at once through the edge, as a
  held-open streaming request; each simulated user closes the tab when their
  patience runs out. A cut or abandoned request throws away everything it did.
- `measure_jobs` (v2 or v3): every question is submitted as a job through the
  same edge; the user watches the "we're working on it" page (polling) while
  their patience lasts, then leaves, and comes back from the notification if the
  user model says they do.
- `deploy_chat` / `deploy_jobs`: a deploy while every question is in flight.
- `results_table`: the rows, each with the claim it tests and whether it holds.

Sync functions run their event loop on a helper thread, so they also work inside
Jupyter (which already runs a loop); the `a...` twins are for `await`.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from rq import Queue
from rq.job import Job

from .. import clock, config
from .._subprocess import stop_process
from ..durable import WorkerFleet, audit_trail, summarize
from ..jobs import get_queue
from ..llm import token_cost
from ..simulator import Simulator, default_simulator
from .job import RESEARCH_QUEUE
from .result import ResearchTrace
from .service import ResearchService, serve_in_thread
from .users import User, users

__all__ = [
    "ClaimRow",
    "Comparison",
    "DeployOutcome",
    "Lever",
    "QuestionRun",
    "Summary",
    "adeploy_chat",
    "ameasure_chat",
    "ameasure_jobs",
    "available_cores",
    "compare",
    "cost_levers",
    "deploy_chat",
    "deploy_jobs",
    "fidelity_scale",
    "measure_chat",
    "measure_jobs",
    "measure_v1",
    "measurement_scale",
    "probe_s",
    "results_table",
    "summarize_runs",
]

T = TypeVar("T")

ARRIVAL_GAP_S = 0.25
"""Simulated seconds between two users' first requests: people do not all click at once."""
POLL_S = 5.0
"""Simulated seconds between two status checks of the 'we're working on it' page."""
MAX_JOB_WAIT_S = 1_800.0
"""Simulated seconds a measurement waits for a job before calling it lost."""


def probe_s() -> float:
    """Real seconds one streamed question takes at time scale 0 here and now (best of 2)."""
    from ..llm import client
    from .agent import run_research

    times = []
    with config.time_scale_set_to(0.0):
        llm = client(simulator=Simulator(seed=1_234))  # a private simulator: no trace in yours
        for _ in range(3):
            started = time.perf_counter()
            run_research(
                "How does a queue absorb a burst of requests?",
                client=llm,
                on_text=lambda _text: None,
            )
            times.append(time.perf_counter() - started)
    return min(times[1:])


def fidelity_scale(base: float) -> float:
    """`base`, slowed down in proportion to how much slower this machine is than the reference.

    Simulated time is played back on the wall clock; if the CPU cannot keep up
    with sixty agents, every simulated duration stretches and the measurement
    lies. So the clock is slowed until it can (capped at 1.0, real time).
    """
    return min(1.0, max(base, base * probe_s() / config.RESEARCH_PROBE_REFERENCE_S))


def measurement_scale(base: float, count: int) -> float:
    """The time scale to measure `count` agents at once: `base` is sized for sixty.

    CPU work grows with the number of agents running at once, so a few questions
    can play back faster than sixty without stretching the simulated durations.
    """
    share = max(config.RESEARCH_SCALE_MIN_SHARE, count / config.RESEARCH_SCALE_QUESTIONS)
    return fidelity_scale(base * min(1.0, share))


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on a fresh loop in a helper thread (safe inside Jupyter)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="research-measure", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class QuestionRun:
    """What happened to one question in one version, from the user's side and the bill's."""

    version: str
    question: str
    patience_s: float
    returns: bool
    timed_out: bool = False
    """The edge cut one of its requests."""
    abandoned: bool = False
    """The user left before the answer and never saw it."""
    finished: bool = False
    """The work completed: an answer exists."""
    delivered: bool = False
    """The user saw the answer (live, or by coming back to the permalink)."""
    time_to_answer_s: float | None = None
    tool_calls: int = 0
    lost_tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    lost_cost_usd: float = 0.0
    longest_request_s: float = 0.0
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- v1: the chat box ---


def _billed(trace: ResearchTrace, simulator: Simulator) -> tuple[int, int]:
    """Tokens billed for a run: its finished calls plus what a cut call had generated."""
    tokens_in, tokens_out = trace.input_tokens, trace.output_tokens
    if trace.in_flight:
        record = next((r for r in simulator.ledger if r.request_id == trace.in_flight), None)
        if record is not None:
            tokens_in += record.input_tokens
            tokens_out += record.generated_tokens
    return tokens_in, tokens_out


async def _chat_one(
    http: httpx2.AsyncClient,
    base: str,
    question: str,
    user: User,
    trace_id: str,
    arrival_s: float = 0.0,
) -> QuestionRun:
    await clock.asleep(arrival_s)
    run = QuestionRun("v1", question, user.patience_s, user.returns_when_notified, requests=1)
    watch = clock.Stopwatch()
    answered = cut = False
    try:
        patience = None if user.patience_s == float("inf") else clock.to_real(user.patience_s)
        async with asyncio.timeout(patience):
            async with http.stream(
                "POST",
                f"{base}/chat",
                json={"question": question},
                headers={"x-trace-id": trace_id},
            ) as response:
                if response.status_code == 504:
                    cut = True
                else:
                    event = ""
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:") and event == "done":
                            answered = True
                    cut = not answered
    except TimeoutError:
        run.abandoned = True
    except httpx2.TransportError:
        cut = not answered  # cut after the answer arrived: the user has it
    run.longest_request_s = watch.elapsed
    run.timed_out = cut and not run.abandoned
    run.finished = run.delivered = answered
    run.time_to_answer_s = watch.elapsed if answered else None
    return run


async def _settle(service: ResearchService, limit_s: float = 10.0) -> None:
    """Wait (bounded) until every agent run the server started has ended."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while service._tasks and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


async def _all_started(service: ResearchService, count: int, limit_s: float = 30.0) -> None:
    """Wait (bounded) until the server is working on `count` chats.

    The deploy is timed from there: on a busy machine the requests can take
    longer to arrive than the simulated seconds before the deploy last.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while service.chats_started < count:
        if loop.time() > deadline:
            raise RuntimeError(
                f"only {service.chats_started} of {count} chats reached the server in "
                f"{limit_s:.0f} s: the machine is too busy to time a deploy"
            )
        await asyncio.sleep(0.005)


def _account(run: QuestionRun, trace: ResearchTrace | None, simulator: Simulator) -> None:
    if trace is None:
        return
    tokens_in, tokens_out = _billed(trace, simulator)
    dollars = sum(u.cost_usd for u in trace.usage)
    extra_in, extra_out = tokens_in - trace.input_tokens, tokens_out - trace.output_tokens
    if extra_in or extra_out:
        dollars += token_cost(extra_in, extra_out, config.LARGE_MODEL)
    run.input_tokens, run.output_tokens, run.cost_usd = tokens_in, tokens_out, dollars
    run.tool_calls = len(trace.tool_calls)
    if not run.delivered:
        run.lost_tool_calls, run.lost_cost_usd = run.tool_calls, dollars


_PATIENT = User(float("inf"), True)


def _people(count: int, seed: int, patient: bool) -> list[User]:
    if patient:
        return [_PATIENT] * count
    return users(count, seed)


async def ameasure_chat(
    questions: Sequence[str],
    *,
    seed: int = 0,
    timeout_s: float = config.DEFAULT_EDGE_TIMEOUT_S,
    patient: bool = False,
    simulator: Simulator | None = None,
) -> list[QuestionRun]:
    """v1: every question at once, held open through the edge; see the module docstring.

    `patient=True` gives every user infinite patience: only the edge can end a
    request, which isolates the timeout rate from abandonment.
    """
    simulator = simulator or default_simulator()
    people = _people(len(questions), seed, patient)
    service = ResearchService(edge_timeout_s=timeout_s)
    running = serve_in_thread(service)
    try:
        limits = httpx2.Limits(max_connections=len(questions) + 10)
        async with httpx2.AsyncClient(timeout=None, limits=limits) as http:
            ids = [secrets.token_hex(8) for _ in questions]
            runs = await asyncio.gather(
                *(
                    _chat_one(http, running.url, q, u, i, n * ARRIVAL_GAP_S)
                    for n, (q, u, i) in enumerate(zip(questions, people, ids, strict=True))
                )
            )
        await _settle(service)
        for run, trace_id in zip(runs, ids, strict=True):
            _account(run, service.traces.get(trace_id), simulator)
        return list(runs)
    finally:
        running.stop()


_warmed_up = False


def _warm_up() -> None:
    """One chat through a throwaway rig at time scale 0, once per process.

    A process's first chat pays for lazy imports and schema building: a fraction
    of a second of CPU that, inside a measurement, lands on the clock as
    simulated seconds just when every user arrives. Its own simulator keeps
    the notebook's ledger clean.
    """
    global _warmed_up
    if _warmed_up:
        return
    from ..llm import async_client

    with config.time_scale_set_to(0.0):
        llm = async_client(simulator=Simulator(seed=1_234))
        running = serve_in_thread(ResearchService(edge_timeout_s=None, llm=llm))
        try:

            async def ask() -> None:
                async with httpx2.AsyncClient(timeout=60) as http:
                    await _chat_one(http, running.url, "How do queues absorb bursts?", _PATIENT, "")

            _run_sync(ask())
        finally:
            running.stop()
    _warmed_up = True


def measure_chat(
    questions: Sequence[str],
    *,
    seed: int = 0,
    timeout_s: float = config.DEFAULT_EDGE_TIMEOUT_S,
    patient: bool = False,
    simulator: Simulator | None = None,
    time_scale: float | None = None,
) -> list[QuestionRun]:
    """The sync twin of `ameasure_chat` (safe to call inside Jupyter).

    Runs at `config.RESEARCH_CHAT_TIME_SCALE` (see `measurement_scale`) unless
    `time_scale` says otherwise.
    """
    _warm_up()
    scale = time_scale or measurement_scale(config.RESEARCH_CHAT_TIME_SCALE, len(questions))
    with config.time_scale_set_to(scale):
        return _run_sync(
            ameasure_chat(
                questions,
                seed=seed,
                timeout_s=timeout_s,
                patient=patient,
                simulator=simulator or default_simulator(),
            )
        )


# --- v2 / v3: the job ---


async def _timed(
    http: httpx2.AsyncClient, method: str, url: str, run: QuestionRun, **kwargs: Any
) -> httpx2.Response:
    watch = clock.Stopwatch()
    response = await http.request(method, url, **kwargs)
    run.requests += 1
    run.longest_request_s = max(run.longest_request_s, watch.elapsed)
    if response.status_code == 504:
        run.timed_out = True
    return response


def _status(job: Job) -> str:
    found = job.get_status(refresh=True)
    return found.value if found is not None else "queued"


async def _job_one(
    http: httpx2.AsyncClient,
    base: str,
    question: str,
    version: str,
    user: User,
    service: ResearchService,
    arrival_s: float = 0.0,
) -> QuestionRun:
    await clock.asleep(arrival_s)
    run = QuestionRun(version, question, user.patience_s, user.returns_when_notified)
    watch = clock.Stopwatch()
    response = await _timed(
        http, "POST", f"{base}/jobs", run, json={"question": question, "version": version}
    )
    if response.status_code != 202:
        return run
    job_id = response.json()["id"]
    url = f"{base}/jobs/{job_id}"
    # the user watches the "we're working on it" page while their patience lasts
    while watch.elapsed < min(user.patience_s, MAX_JOB_WAIT_S):
        await clock.asleep(min(POLL_S, user.patience_s - watch.elapsed))
        view = (await _timed(http, "GET", url, run)).json()
        if view["status"] == "finished":
            run.delivered = True
            break
        if view["status"] == "failed":
            break
    job = await asyncio.to_thread(Job.fetch, job_id, connection=service.connection)
    # gone: the job carries on; the notification arrives when it is done
    while (
        await asyncio.to_thread(_status, job) not in ("finished", "failed")
        and watch.elapsed < MAX_JOB_WAIT_S
    ):
        await clock.asleep(POLL_S)
    if await asyncio.to_thread(_status, job) == "finished":
        run.finished = True
        if not run.delivered and user.returns_when_notified:
            view = (await _timed(http, "GET", url, run)).json()  # the permalink, from the email
            run.delivered = view["status"] == "finished"
    run.abandoned = not run.delivered
    if run.finished:
        result = job.return_value() or {}
        run.cost_usd = float(result.get("cost_usd", 0.0))
        run.tool_calls = len(result.get("tool_calls", []))
        run.input_tokens = sum(int(u["input_tokens"]) for u in result.get("usage", []))
        run.output_tokens = sum(int(u["output_tokens"]) for u in result.get("usage", []))
        await asyncio.to_thread(job.refresh)
        if job.created_at and job.ended_at:
            real = (job.ended_at - job.created_at).total_seconds()
            run.time_to_answer_s = clock.to_sim(real)
    return run


class _Fleets:
    """As many workers as asked for, in fleets of at most `FLEET_MAX` (one worker per job)."""

    FLEET_MAX = 30

    def __init__(self, size: int, connection: Any) -> None:
        sizes = [self.FLEET_MAX] * (size // self.FLEET_MAX)
        if size % self.FLEET_MAX:
            sizes.append(size % self.FLEET_MAX)
        self.fleets = [WorkerFleet(n, [RESEARCH_QUEUE], connection=connection) for n in sizes]

    def start(self) -> None:
        for fleet in self.fleets:
            fleet.start()

    def stop(self, grace_s: float) -> None:
        for fleet in self.fleets:
            fleet.stop(grace_s=grace_s)


async def ameasure_jobs(
    questions: Sequence[str],
    version: str = "v2",
    *,
    seed: int = 0,
    workers: int | None = None,
    timeout_s: float = config.DEFAULT_EDGE_TIMEOUT_S,
    patient: bool = False,
    submit: Callable[[Queue, str], Any] | None = None,
) -> list[QuestionRun]:
    """v2 or v3: every question submitted as a job through the edge; see the module docstring.

    `submit(queue, question) -> job id` replaces the course's `enqueue_research`
    (the capstone lab measures the learner's own job this way).
    """
    people = _people(len(questions), seed, patient)
    service = ResearchService(edge_timeout_s=timeout_s, submit=submit)
    fleet = _Fleets(workers or len(questions), service.connection)
    running = serve_in_thread(service)
    try:
        fleet.start()
        limits = httpx2.Limits(max_connections=len(questions) + 10)
        async with httpx2.AsyncClient(timeout=None, limits=limits) as http:
            runs = await asyncio.gather(
                *(
                    _job_one(http, running.url, q, version, u, service, n * ARRIVAL_GAP_S)
                    for n, (q, u) in enumerate(zip(questions, people, strict=True))
                )
            )
        return list(runs)
    finally:
        running.stop()
        fleet.stop(grace_s=5.0)


def measure_jobs(
    questions: Sequence[str],
    version: str = "v2",
    *,
    seed: int = 0,
    workers: int | None = None,
    timeout_s: float = config.DEFAULT_EDGE_TIMEOUT_S,
    patient: bool = False,
    time_scale: float | None = None,
    submit: Callable[[Queue, str], Any] | None = None,
) -> list[QuestionRun]:
    """The sync twin of `ameasure_jobs`, at `config.RESEARCH_JOBS_TIME_SCALE` by default."""
    scale = time_scale or measurement_scale(config.RESEARCH_JOBS_TIME_SCALE, len(questions))
    with config.time_scale_set_to(scale):
        return _run_sync(
            ameasure_jobs(
                questions,
                version,
                seed=seed,
                workers=workers,
                timeout_s=timeout_s,
                patient=patient,
                submit=submit,
            )
        )


# --- a deploy with every question in flight ---


@dataclass(frozen=True)
class DeployOutcome:
    """What a deploy in the middle of the work cost."""

    version: str
    questions: int
    in_flight: int
    """Questions being worked on when the deploy happened."""
    answered: int
    """Questions that still got an answer."""
    tool_calls_lost: int
    """Finished tool calls whose result was thrown away (or had to be redone)."""
    finished_steps_redone: int
    interrupted_steps: int
    """Steps cut in the middle (they run again; only a durable job can say how many)."""
    cost_lost_usd: float


async def adeploy_chat(
    questions: Sequence[str], *, at_s: float = 30.0, simulator: Simulator | None = None
) -> DeployOutcome:
    """v1: a new web release goes out `at_s` simulated seconds after every chat has started."""
    simulator = simulator or default_simulator()
    patient = [User(10_000.0, False) for _ in questions]  # nobody leaves: only the deploy counts
    service = ResearchService(edge_timeout_s=None)
    running = serve_in_thread(service)
    try:
        async with httpx2.AsyncClient(timeout=None) as http:
            ids = [secrets.token_hex(8) for _ in questions]
            tasks = [
                asyncio.ensure_future(_chat_one(http, running.url, q, u, i))
                for q, u, i in zip(questions, patient, ids, strict=True)
            ]
            await _all_started(service, len(questions))
            await clock.asleep(at_s)
            in_flight = await asyncio.to_thread(service.deploy)
            runs = await asyncio.gather(*tasks)
        await _settle(service)
        for run, trace_id in zip(runs, ids, strict=True):
            _account(run, service.traces.get(trace_id), simulator)
    finally:
        running.stop()
    return DeployOutcome(
        version="v1",
        questions=len(questions),
        in_flight=in_flight,
        answered=sum(r.delivered for r in runs),
        tool_calls_lost=sum(r.lost_tool_calls for r in runs),
        finished_steps_redone=0,
        interrupted_steps=in_flight,
        cost_lost_usd=sum(r.lost_cost_usd for r in runs),
    )


def deploy_chat(
    questions: Sequence[str], *, at_s: float = 30.0, simulator: Simulator | None = None
) -> DeployOutcome:
    """The sync twin of `adeploy_chat`."""
    return _run_sync(adeploy_chat(questions, at_s=at_s, simulator=simulator or default_simulator()))


def deploy_jobs(
    questions: Sequence[str], version: str = "v2", *, at_s: float = 30.0, grace_s: float = 5.0
) -> DeployOutcome:
    """v2/v3: every worker replaced `at_s` simulated seconds in, with `grace_s` to finish.

    The jobs are longer than the grace period, so the old workers are killed in
    the middle of their jobs; RQ re-runs the jobs on the new workers, which replay
    the finished steps from their checkpoints.
    """
    from .job import enqueue_research

    fleet = WorkerFleet(len(questions), [RESEARCH_QUEUE])
    fleet.start()
    try:
        queue = get_queue(RESEARCH_QUEUE, connection=fleet.connection)
        jobs = [enqueue_research(q, version, queue=queue) for q in questions]
        clock.sleep(at_s)
        in_flight = sum(j.get_status(refresh=True) == "started" for j in jobs)
        fleet.deploy(f"{version}-next", grace_s=clock.to_real(grace_s))
        watch = clock.Stopwatch()
        while watch.elapsed < MAX_JOB_WAIT_S and any(
            j.get_status(refresh=True) not in ("finished", "failed") for j in jobs
        ):
            clock.sleep(POLL_S)
    finally:
        fleet.stop(grace_s=5.0)
    summaries = [summarize(audit_trail(j.id, fleet.connection)) for j in jobs]
    return DeployOutcome(
        version=version,
        questions=len(questions),
        in_flight=in_flight,
        answered=sum(j.get_status(refresh=True) == "finished" for j in jobs),
        tool_calls_lost=sum(s.finished_steps_reexecuted for s in summaries),
        finished_steps_redone=sum(s.finished_steps_reexecuted for s in summaries),
        interrupted_steps=sum(s.interrupted_steps for s in summaries),
        cost_lost_usd=0.0,
    )


# --- the results table ---


@dataclass(frozen=True)
class Summary:
    """One version's figures over a set of questions."""

    version: str
    questions: int
    timeout_rate: float
    abandonment_rate: float
    completion_rate: float
    cost_per_question_usd: float
    cost_per_answer_usd: float
    lost_cost_usd: float
    lost_tool_calls: int
    median_time_to_answer_s: float | None
    longest_request_s: float
    extra_cost_per_question_usd: float = 0.0


def summarize_runs(runs: Sequence[QuestionRun], *, extra_cost_usd: float = 0.0) -> Summary:
    """Rates and costs of one version; `extra_cost_usd` is shared work (v3's nightly digests)."""
    if not runs:
        raise ValueError("no runs to summarize")
    count = len(runs)
    delivered = sum(r.delivered for r in runs)
    spent = sum(r.cost_usd for r in runs) + extra_cost_usd
    times = [r.time_to_answer_s for r in runs if r.time_to_answer_s is not None]
    return Summary(
        version=runs[0].version,
        questions=count,
        timeout_rate=sum(r.timed_out for r in runs) / count,
        abandonment_rate=sum(r.abandoned and not r.timed_out for r in runs) / count,
        completion_rate=delivered / count,
        cost_per_question_usd=spent / count,
        cost_per_answer_usd=spent / delivered if delivered else float("inf"),
        lost_cost_usd=sum(r.lost_cost_usd for r in runs),
        lost_tool_calls=sum(r.lost_tool_calls for r in runs),
        median_time_to_answer_s=statistics.median(times) if times else None,
        longest_request_s=max(r.longest_request_s for r in runs),
        extra_cost_per_question_usd=extra_cost_usd / count,
    )


@dataclass(frozen=True)
class ClaimRow:
    """One row of the results table: the measured values beside the claim they test."""

    metric: str
    v1: str
    v2: str
    v3: str
    claim: str
    holds: bool


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _usd(value: float) -> str:
    return f"${value:.4f}"


@dataclass(frozen=True)
class _Deploys:
    v1: DeployOutcome
    v2: DeployOutcome
    v3: DeployOutcome


def results_table(
    v1: Summary,
    v2: Summary,
    v3: Summary,
    deploys: Sequence[DeployOutcome],
    *,
    edge_only: Summary | None = None,
) -> list[ClaimRow]:
    """The article's four claims, each measured on the same questions in all three versions.

    `edge_only` is v1 measured with users who never leave: the edge's own timeout
    rate, which the timeout row reports for v1 (with real users, some requests are
    abandoned before the edge gets to cut them).
    """
    edge = edge_only or v1
    by_version = {d.version: d for d in deploys}
    missing = {"v1", "v2", "v3"} - set(by_version)
    if missing:
        raise ValueError(f"a deploy outcome is missing for {sorted(missing)}")
    d = _Deploys(by_version["v1"], by_version["v2"], by_version["v3"])
    saving = 1 - v3.cost_per_question_usd / v1.cost_per_question_usd
    rows = [
        ClaimRow(
            "timeout failures",
            _pct(edge.timeout_rate),
            _pct(v2.timeout_rate),
            _pct(v3.timeout_rate),
            "about half at a 60 s edge -> 0%",
            0.3 <= edge.timeout_rate <= 0.7 and v2.timeout_rate == 0 and v3.timeout_rate == 0,
        ),
        ClaimRow(
            "cost per question",
            _usd(v1.cost_per_question_usd),
            _usd(v2.cost_per_question_usd),
            _usd(v3.cost_per_question_usd),
            f"v3 at least 30% cheaper than v1 (measured: {100 * saving:.0f}%)",
            saving >= 0.30,
        ),
        ClaimRow(
            "completion rate",
            _pct(v1.completion_rate),
            _pct(v2.completion_rate),
            _pct(v3.completion_rate),
            "higher: users come back instead of abandoning",
            v2.completion_rate > v1.completion_rate and v3.completion_rate > v1.completion_rate,
        ),
        ClaimRow(
            "work lost in a deploy (tool calls)",
            str(d.v1.tool_calls_lost),
            str(d.v2.finished_steps_redone),
            str(d.v3.finished_steps_redone),
            "0: deploys don't kill in-flight research",
            d.v2.finished_steps_redone == 0
            and d.v3.finished_steps_redone == 0
            and d.v2.answered == d.v2.questions
            and d.v3.answered == d.v3.questions,
        ),
    ]
    return rows


# --- where v3's saving comes from ---


@dataclass(frozen=True)
class Lever:
    """The average cost per question of one design, on the same questions."""

    name: str
    cost_per_question_usd: float
    shared_cost_usd: float = 0.0
    """Work shared by every question (the nightly digests), already spread over them."""


def cost_levers(questions: Sequence[str]) -> list[Lever]:
    """v2, then each v3 lever added one at a time, priced on the same questions.

    Prices do not depend on time, so this runs at time scale 0 (batches end at
    once) without the HTTP rig: it measures tokens, not latency.
    """
    from .agent import run_research
    from .batched import prepare_digests, run_research_v3

    count = len(questions)
    if not count:
        raise ValueError("no questions")
    with config.time_scale_set_to(0.0):
        live = [run_research(q).cost_usd for q in questions]
        small_gather = [run_research_v3(q, write_in_batch=False).cost_usd for q in questions]
        v3 = [run_research_v3(q).cost_usd for q in questions]
        digest_set = prepare_digests()
        with_digests = [run_research_v3(q, digests=digest_set.digests).cost_usd for q in questions]
    share = digest_set.cost_usd / count
    return [
        Lever("v2: agent loop, live, large model", sum(live) / count),
        Lever("gather on the small model, write live on the large one", sum(small_gather) / count),
        Lever("+ the answer written through the Batches API (v3)", sum(v3) / count),
        Lever("+ document digests from a nightly batch", sum(with_digests) / count + share, share),
    ]


# --- everything at once ---


@dataclass(frozen=True)
class Comparison:
    """Runs, summaries, deploy outcomes and the results table of one full comparison."""

    runs: dict[str, list[QuestionRun]]
    summaries: dict[str, Summary]
    deploys: dict[str, DeployOutcome]
    rows: list[ClaimRow]


SECOND_PROCESS_LIMIT_S = 600.0
"""Real seconds a measurement waits for its second process before giving up on it."""


class _SecondProcess:
    """`function(*args, **kwargs)` in a fresh interpreter, on the machine's other core.

    Each measurement keeps one core busy (the GIL), and it must not fall behind
    the clock, so two measurements side by side need two processes. A plain
    subprocess, not `multiprocessing`: spawning re-imports the caller's
    `__main__`, which breaks any script without an `if __name__ == "__main__"`
    guard. The child starts from `setup(seed=seed)` at this process's time
    scale; arguments go in on stdin, the result and any error come back in files.
    Use it as a context manager: leaving the block stops a child still running.
    """

    def __init__(
        self, function: Callable[..., Any], seed: int, /, *args: Any, **kwargs: Any
    ) -> None:
        # closed by __exit__; files, not pipes, so that a chatty child never blocks
        self._out = tempfile.NamedTemporaryFile(prefix="soq-measure-", suffix=".pickle")  # noqa: SIM115
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        code = "from stream_or_queue.research.compare import _second_main; _second_main()"
        self._process = subprocess.Popen(
            [sys.executable, "-c", code, self._out.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
        )
        payload = (function, seed, config.time_scale(), args, kwargs)
        with self._process.stdin as stdin:  # type: ignore[union-attr]
            stdin.write(pickle.dumps(payload))

    def __enter__(self) -> _SecondProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:
            stop_process(self._process)
        self._out.close()
        self._errors.close()

    def result(self, timeout_s: float = SECOND_PROCESS_LIMIT_S) -> Any:
        """What the function returned; a `RuntimeError` with its last words if it failed."""
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_process(self._process)
            raise RuntimeError(f"the second process took over {timeout_s:.0f} s") from None
        if self._process.returncode != 0:
            self._errors.seek(0)
            tail = self._errors.read().decode(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError("the second process failed:\n" + "\n".join(tail))
        with open(self._out.name, "rb") as found:
            return pickle.load(found)


def _second_main() -> None:
    """Entry point of a `_SecondProcess`."""
    from ..course import setup

    function, seed, time_scale, args, kwargs = pickle.loads(sys.stdin.buffer.read())
    setup(seed=seed, time_scale=time_scale, reset_redis=False, quiet=True)
    result = function(*args, **kwargs)
    with open(sys.argv[1], "wb") as out:
        pickle.dump(result, out)


def _cgroup_cpu_limit() -> float | None:
    """The CPU quota of this container in cores (cgroup v2, then v1), or None if unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text().strip()
        period = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text().strip()
        return None if int(quota) <= 0 else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """How many cores the measurements may use: the CPU affinity, capped by a container's
    quota and by `$STREAM_OR_QUEUE_CORES` (`config.cores_override`).

    `os.cpu_count()` counts the host's cores; a container (Binder, CI) often gets
    fewer, other processes may share them (`make test` runs two notebooks at once),
    and two measurements on one core would stretch each other's time.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    caps = [cores or 1, _cgroup_cpu_limit(), config.cores_override()]
    return max(1, int(min(cap for cap in caps if cap is not None)))


def measure_v1(
    questions: Sequence[str], *, seed: int = 0, parallel: bool | None = None
) -> tuple[list[QuestionRun], list[QuestionRun]]:
    """v1 measured twice: users who never leave (the edge alone), then the seeded users.

    With `parallel` (the default when `available_cores()` is at least 2) the
    patient run goes to a second process, so the pair takes about as long as one
    run. Both then use the time scale probed here before the second process
    starts: probed while the other starts, the machine looks busier than it is.
    One after the other, each run probes the machine as it starts.
    """
    if not (available_cores() >= 2 if parallel is None else parallel):
        # one after the other, each probing the machine as it starts (its load may change)
        patient = measure_chat(questions, seed=seed, patient=True)
        return patient, measure_chat(questions, seed=seed)
    scale = measurement_scale(config.RESEARCH_CHAT_TIME_SCALE, len(questions))
    with _SecondProcess(
        measure_chat, seed, list(questions), seed=seed, patient=True, time_scale=scale
    ) as second:
        chat = measure_chat(questions, seed=seed, time_scale=scale)
        return second.result(), chat


@dataclass(frozen=True)
class _Scales:
    """Every time scale of a comparison, probed once before any measurement starts."""

    chat: float
    jobs: float
    chat_deploy: float
    job_deploy: float

    @classmethod
    def probe(cls, count: int) -> _Scales:
        return cls(
            chat=measurement_scale(config.RESEARCH_CHAT_TIME_SCALE, count),
            jobs=measurement_scale(config.RESEARCH_JOBS_TIME_SCALE, count),
            chat_deploy=fidelity_scale(0.01),
            job_deploy=fidelity_scale(config.RESEARCH_DEPLOY_TIME_SCALE),
        )


def _chat_side(
    questions: list[str], seed: int, deploy_count: int, deploy_at_s: float, scales: _Scales | None
) -> tuple[list[QuestionRun], list[QuestionRun], DeployOutcome]:
    """v1's measurements and deploy, as `compare` runs them (`scales` None: probe at each)."""
    scale = None if scales is None else scales.chat
    edge = measure_chat(questions, seed=seed, patient=True, time_scale=scale)
    chat = measure_chat(questions, seed=seed, time_scale=scale)
    with config.time_scale_set_to(scales.chat_deploy if scales else fidelity_scale(0.01)):
        deploy = deploy_chat(questions[:deploy_count], at_s=deploy_at_s)
    return edge, chat, deploy


def _job_side(
    questions: list[str], seed: int, deploy_count: int, deploy_at_s: float, scales: _Scales | None
) -> tuple[list[QuestionRun], list[QuestionRun], DeployOutcome, DeployOutcome]:
    """v2's and v3's measurements and deploys (`scales` None: probe at each)."""
    scale = None if scales is None else scales.jobs
    v2 = measure_jobs(questions, "v2", seed=seed, time_scale=scale)
    v3 = measure_jobs(questions, "v3", seed=seed, time_scale=scale)
    deploy = config.RESEARCH_DEPLOY_TIME_SCALE
    with config.time_scale_set_to(scales.job_deploy if scales else fidelity_scale(deploy)):
        deploy_v2 = deploy_jobs(questions[:deploy_count], "v2", at_s=deploy_at_s)
        deploy_v3 = deploy_jobs(questions[:deploy_count], "v3", at_s=deploy_at_s)
    return v2, v3, deploy_v2, deploy_v3


def compare(
    questions: Sequence[str] | None = None,
    *,
    seed: int = 0,
    deploy_count: int = 12,
    deploy_at_s: float = 30.0,
    parallel: bool | None = None,
) -> Comparison:
    """Measure v1, v2 and v3 on the same questions and users, deploy each, build the table.

    v1 is measured twice: with users who never leave (`v1-edge`: what the edge
    alone does) and with the seeded user model (`v1`: what users get).

    Each measurement plays its agents back on the wall clock and keeps one core
    busy (the GIL), so with `parallel` (the default when `available_cores()` is
    at least 2) v1's side runs in a second process, on a simulator of its own
    seeded with `seed`, while v2 and v3 run here: the comparison takes about half
    as long; the time scales are then probed once, before anything runs (see
    `measure_v1`). Otherwise everything runs here, one measurement after the other,
    each probing the machine as it starts.
    """
    from .questions import QUESTIONS

    chosen = list(questions or QUESTIONS)
    if available_cores() >= 2 if parallel is None else parallel:
        plan = (chosen, seed, deploy_count, deploy_at_s, _Scales.probe(len(chosen)))
        with _SecondProcess(_chat_side, seed, *plan) as second:
            v2, v3, deploy_v2, deploy_v3 = _job_side(*plan)
            edge, chat, deploy_v1 = second.result()
    else:
        edge, chat, deploy_v1 = _chat_side(chosen, seed, deploy_count, deploy_at_s, None)
        v2, v3, deploy_v2, deploy_v3 = _job_side(chosen, seed, deploy_count, deploy_at_s, None)
    runs = {"v1-edge": edge, "v1": chat, "v2": v2, "v3": v3}
    summaries = {version: summarize_runs(found) for version, found in runs.items()}
    deploys = {"v1": deploy_v1, "v2": deploy_v2, "v3": deploy_v3}
    rows = results_table(
        summaries["v1"],
        summaries["v2"],
        summaries["v3"],
        list(deploys.values()),
        edge_only=summaries["v1-edge"],
    )
    return Comparison(runs, summaries, deploys, rows)
