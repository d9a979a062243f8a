"""v1, v2 and v3 on the same questions and the same users, beside the article's claims.

Every figure of the results table is computed from the runs' schedules
(`research.schedule`): each question's agent is run once, at time scale 0, and
the simulator's ledger says exactly when each model call would have produced
its tokens; tool durations are seeded. The outcomes then follow on simulated
time, exactly and identically on every machine:

- `measure_chat` (v1): the agent runs inside one streamed request. An edge with
  a total-duration limit cuts it at the limit; an idle timeout cuts it only if
  the stream is silent that long; the user closes the tab when their patience
  runs out. Whatever ends the request ends the agent: the work done is lost.
- `measure_jobs` (v2 or v3): the question is submitted as a job (a request of a
  few milliseconds, which no edge cuts); the user watches the "we're working on
  it" page while their patience lasts, then leaves, and comes back from the
  notification if the user model says they do.
- `deploy_chat` / `deploy_outcome`: a deploy while the questions are in flight.
- `results_table`: the rows, each with the claim it tests and whether it holds.

Questions do not compete for anything here (one worker per job, no rate limit),
so each is computed on its own; the users are `research.users`' seeded model.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import config
from ..config import EdgeLimit
from ..edge import cut_at
from .schedule import Schedule, schedules
from .users import User, users

__all__ = [
    "POLL_S",
    "ClaimRow",
    "Comparison",
    "DeployOutcome",
    "Lever",
    "QuestionRun",
    "Summary",
    "chat_outcome",
    "compare",
    "cost_levers",
    "deploy_chat",
    "deploy_outcome",
    "job_outcome",
    "measure_chat",
    "measure_jobs",
    "measure_v1",
    "results_table",
    "summarize_runs",
]

POLL_S = 5.0
"""Simulated seconds between two status checks of the 'we're working on it' page."""


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
    seen_live: bool = False
    """The user was still watching when the answer arrived."""
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


_PATIENT = User(math.inf, True)


def _people(count: int, seed: int, patient: bool, return_rate: float | None) -> list[User]:
    if patient:
        return [_PATIENT] * count
    return users(count, seed, return_rate=return_rate)


# --- v1: the chat box ---


def _edges(timeout_s: float | None, idle_timeout_s: float | None) -> list[EdgeLimit]:
    found = []
    if timeout_s is not None:
        found.append(EdgeLimit("duration limit", "duration", timeout_s, "", ""))
    if idle_timeout_s is not None:
        found.append(EdgeLimit("idle timeout", "idle", idle_timeout_s, "", ""))
    return found


def chat_outcome(
    schedule: Schedule,
    user: User,
    *,
    timeout_s: float | None = config.DEFAULT_EDGE_TIMEOUT_S,
    idle_timeout_s: float | None = None,
) -> QuestionRun:
    """v1: the run inside one streamed request, ended by the answer, the edge or the user.

    `timeout_s` is a total-duration limit (function platforms, API gateways: the
    request dies at the limit, however busy the stream). `idle_timeout_s` is an
    idle/read timeout (load balancers, CDNs: the request dies only after that
    long without a byte; the chat sends one at every step). `None` turns either
    off. When the edge and the user would end the request at once, the edge does.
    """
    answer_at = schedule.total_s
    sent = [t for t in schedule.sent_at() if t <= answer_at]
    cuts = [cut_at(limit, answer_at, sent) for limit in _edges(timeout_s, idle_timeout_s)]
    cut = min((c for c in cuts if c is not None), default=math.inf)
    leave_at = user.patience_s if user.patience_s < answer_at else math.inf
    end = min(answer_at, cut, leave_at)
    run = QuestionRun("v1", schedule.question, user.patience_s, user.returns_when_notified)
    run.requests = 1
    run.timed_out = cut <= leave_at and cut < math.inf
    run.abandoned = not run.timed_out and leave_at < math.inf
    run.finished = run.delivered = run.seen_live = not (run.timed_out or run.abandoned)
    run.time_to_answer_s = answer_at if run.delivered else None
    run.longest_request_s = end
    run.input_tokens, run.output_tokens = schedule.tokens_by(end)
    run.cost_usd = schedule.cost_by(end)
    run.tool_calls = schedule.tool_calls_by(end)
    if not run.delivered:
        run.lost_tool_calls, run.lost_cost_usd = run.tool_calls, run.cost_usd
    return run


def measure_chat(
    questions: Sequence[str],
    *,
    seed: int = 0,
    timeout_s: float | None = config.DEFAULT_EDGE_TIMEOUT_S,
    idle_timeout_s: float | None = None,
    patient: bool = False,
    return_rate: float | None = None,
) -> list[QuestionRun]:
    """v1 for every question, with `seed`'s users (see `chat_outcome` for the edges).

    `patient=True` gives every user infinite patience: only the edge can end a
    request, which isolates the timeout rate from abandonment.
    """
    people = _people(len(questions), seed, patient, return_rate)
    return [
        chat_outcome(s, u, timeout_s=timeout_s, idle_timeout_s=idle_timeout_s)
        for s, u in zip(schedules(questions, "v1", seed=seed), people, strict=True)
    ]


def measure_v1(
    questions: Sequence[str], *, seed: int = 0
) -> tuple[list[QuestionRun], list[QuestionRun]]:
    """v1 twice: users who never leave (the edge alone), then the seeded users."""
    return (
        measure_chat(questions, seed=seed, patient=True),
        measure_chat(questions, seed=seed),
    )


# --- v2 / v3: the job ---


def job_outcome(schedule: Schedule, user: User, *, poll_s: float = POLL_S) -> QuestionRun:
    """v2/v3: a job runs the schedule while the user watches the page, leaves, maybe returns.

    The submit and each status check are requests of milliseconds: no edge cuts
    them. One worker per job, so the work starts at once. The user sees the
    answer at the first status check after it is ready, if still there; a user
    who left sees it when (and if) the notification brings them back.
    """
    answer_at = schedule.total_s
    seen_at = math.ceil(answer_at / poll_s) * poll_s if poll_s > 0 else answer_at
    run = QuestionRun(
        schedule.version, schedule.question, user.patience_s, user.returns_when_notified
    )
    run.finished = True
    run.seen_live = seen_at <= user.patience_s
    run.delivered = run.seen_live or user.returns_when_notified
    run.abandoned = not run.delivered
    run.time_to_answer_s = answer_at
    watched = min(user.patience_s, seen_at)
    run.requests = 1 + int(watched // poll_s) + (0 if run.seen_live or not run.delivered else 1)
    run.tool_calls = schedule.tool_calls
    run.input_tokens, run.output_tokens = schedule.input_tokens, schedule.output_tokens
    run.cost_usd = schedule.cost_usd
    return run


def measure_jobs(
    questions: Sequence[str],
    version: str = "v2",
    *,
    seed: int = 0,
    patient: bool = False,
    return_rate: float | None = None,
    batch_turnaround_s: float | None = None,
) -> list[QuestionRun]:
    """v2 or v3 for every question, with `seed`'s users (see `job_outcome`).

    `batch_turnaround_s` replaces the simulator's batch turnaround for v3 (real
    batches take minutes to 24 hours).
    """
    if version not in ("v2", "v3"):
        raise ValueError(f"version must be v2 or v3, got {version!r}")
    found = schedules(questions, version, seed=seed)
    if batch_turnaround_s is not None:
        found = [s.with_batch_turnaround(batch_turnaround_s) for s in found]
    people = _people(len(questions), seed, patient, return_rate)
    return [job_outcome(s, u) for s, u in zip(found, people, strict=True)]


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
    steps_redone_without_checkpoints: int = 0
    """What a job without checkpoints would have redone: every step finished before the kill."""


def deploy_chat(questions: Sequence[str], *, at_s: float = 30.0, seed: int = 0) -> DeployOutcome:
    """v1: a new web release goes out `at_s` simulated seconds after every chat started.

    Every chat still running dies with the old processes; nobody leaves on their
    own, so only the deploy counts.
    """
    found = schedules(questions, "v1", seed=seed)
    dead = [s for s in found if s.total_s > at_s]
    return DeployOutcome(
        version="v1",
        questions=len(found),
        in_flight=len(dead),
        answered=len(found) - len(dead),
        tool_calls_lost=sum(s.tool_calls_by(at_s) for s in dead),
        finished_steps_redone=0,
        interrupted_steps=len(dead),
        cost_lost_usd=sum(s.cost_by(at_s) for s in dead),
        steps_redone_without_checkpoints=sum(s.steps_finished_by(at_s) for s in dead),
    )


def deploy_outcome(
    questions: Sequence[str],
    version: str = "v2",
    *,
    at_s: float = 30.0,
    grace_s: float = 5.0,
    seed: int = 0,
) -> DeployOutcome:
    """v2/v3 on simulated time: every worker replaced `at_s` in, with `grace_s` to finish.

    A job still running at `at_s + grace_s` is killed in the middle of a step; the
    queue runs it again on a new worker, which replays the finished steps from
    their checkpoints and runs the interrupted step again. That is the durable
    job's design (09b and 08 kill real workers to show it), so `finished_steps_redone`
    is 0 here by construction; `steps_redone_without_checkpoints` is what the same
    deploy would have redone without them, and `cost_lost_usd` is the interrupted
    steps' partial bills, paid twice.
    """
    if version not in ("v2", "v3"):
        raise ValueError(f"version must be v2 or v3, got {version!r}")
    kill_at = at_s + grace_s
    found = schedules(questions, version, seed=seed)
    killed = [s for s in found if s.total_s > kill_at]
    interrupted = [step for s in killed if (step := s.step_at(kill_at)) is not None]
    return DeployOutcome(
        version=version,
        questions=len(found),
        in_flight=sum(s.total_s > at_s for s in found),
        answered=len(found),
        tool_calls_lost=0,
        finished_steps_redone=0,
        interrupted_steps=len(interrupted),
        cost_lost_usd=sum(step.cost_by(kill_at) for step in interrupted),
        steps_redone_without_checkpoints=sum(s.steps_finished_by(kill_at) for s in killed),
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
    seen_live_rate: float = 0.0
    """Share of questions whose user was still watching when the answer arrived."""


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
        seen_live_rate=sum(r.seen_live for r in runs) / count,
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


def _seconds(value: float) -> str:
    return f"{value:.0f} s"


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
    timeout_s: float = config.DEFAULT_EDGE_TIMEOUT_S,
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
            f"'half' cut at a {_seconds(timeout_s)} edge -> 0% (holds if 30-70% -> 0%)",
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
            "higher: users come back instead of abandoning (holds if v2 and v3 > v1)",
            v2.completion_rate > v1.completion_rate and v3.completion_rate > v1.completion_rate,
        ),
        ClaimRow(
            "work lost in a deploy (tool calls)",
            str(d.v1.tool_calls_lost),
            str(d.v2.finished_steps_redone),
            str(d.v3.finished_steps_redone),
            "0: deploys don't kill in-flight research (holds if v2 and v3 redo 0, answer all)",
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


def compare(
    questions: Sequence[str] | None = None,
    *,
    seed: int = 0,
    deploy_count: int = 12,
    deploy_at_s: float = 30.0,
    return_rate: float | None = None,
    batch_turnaround_s: float | None = None,
) -> Comparison:
    """v1, v2 and v3 on the same questions and users, a deploy for each, and the table.

    v1 is computed twice: with users who never leave (`v1-edge`: what the edge
    alone does) and with the seeded user model (`v1`: what users get).
    `return_rate` and `batch_turnaround_s` override the user model's return rate
    and the batch turnaround (see `measure_jobs`), for sensitivity checks.
    """
    from .questions import QUESTIONS

    chosen = list(questions or QUESTIONS)
    runs = {
        "v1-edge": measure_chat(chosen, seed=seed, patient=True),
        "v1": measure_chat(chosen, seed=seed, return_rate=return_rate),
        "v2": measure_jobs(chosen, "v2", seed=seed, return_rate=return_rate),
        "v3": measure_jobs(
            chosen,
            "v3",
            seed=seed,
            return_rate=return_rate,
            batch_turnaround_s=batch_turnaround_s,
        ),
    }
    summaries = {version: summarize_runs(found) for version, found in runs.items()}
    in_flight = chosen[:deploy_count]
    deploys = {
        "v1": deploy_chat(in_flight, at_s=deploy_at_s, seed=seed),
        "v2": deploy_outcome(in_flight, "v2", at_s=deploy_at_s, seed=seed),
        "v3": deploy_outcome(in_flight, "v3", at_s=deploy_at_s, seed=seed),
    }
    rows = results_table(
        summaries["v1"],
        summaries["v2"],
        summaries["v3"],
        list(deploys.values()),
        edge_only=summaries["v1-edge"],
    )
    return Comparison(runs, summaries, deploys, rows)
