"""`research.compare`: v1, v2 and v3 outcomes computed on simulated time from the schedules.

The claims of the results table are asserted in test_research_claims.py.
"""

from __future__ import annotations

import math

import pytest

from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.compare import (
    chat_outcome,
    compare,
    deploy_chat,
    deploy_outcome,
    job_outcome,
    measure_chat,
    measure_jobs,
    summarize_runs,
)
from stream_or_queue.research.schedule import record, schedules
from stream_or_queue.research.users import User, users

SOME = QUESTIONS[:20]


def test_the_same_seed_gives_identical_outcomes() -> None:
    assert measure_chat(SOME, seed=3) == measure_chat(SOME, seed=3)
    assert measure_jobs(SOME, "v3", seed=3) == measure_jobs(SOME, "v3", seed=3)


def test_a_longer_duration_limit_cuts_fewer_chats() -> None:
    rates = [
        summarize_runs(measure_chat(SOME, timeout_s=limit, patient=True)).timeout_rate
        for limit in (30.0, 60.0, 120.0)
    ]
    assert rates[0] > rates[1] > rates[2] == 0


def test_a_duration_limit_cuts_exactly_the_runs_longer_than_it() -> None:
    runs = measure_chat(SOME, timeout_s=60.0, patient=True)
    for run, found in zip(runs, schedules(SOME), strict=True):
        assert run.timed_out == (found.total_s > 60.0)
        assert run.longest_request_s == pytest.approx(min(found.total_s, 60.0))


def test_a_stream_survives_an_idle_timeout_that_a_duration_limit_of_the_same_length_cuts() -> None:
    duration = summarize_runs(measure_chat(SOME, timeout_s=45.0, patient=True))
    idle = summarize_runs(measure_chat(SOME, timeout_s=None, idle_timeout_s=45.0, patient=True))
    assert duration.timeout_rate > 0 and idle.timeout_rate == 0
    silence = max(s.longest_silence_s for s in schedules(SOME))
    quiet = measure_chat(SOME, timeout_s=None, idle_timeout_s=silence / 2, patient=True)
    assert summarize_runs(quiet).timeout_rate > 0  # an idle timeout shorter than a silence cuts


def test_a_user_who_leaves_first_loses_what_was_paid_so_far() -> None:
    found = record(QUESTIONS[0])
    run = chat_outcome(found, User(found.total_s / 2, True), timeout_s=None)
    assert run.abandoned and not run.timed_out and not run.delivered
    assert 0 < run.lost_cost_usd == run.cost_usd < found.cost_usd
    assert run.lost_tool_calls == found.tool_calls_by(found.total_s / 2)
    patient = chat_outcome(found, User(math.inf, False), timeout_s=None)
    assert patient.delivered and patient.cost_usd == pytest.approx(found.cost_usd)
    assert patient.lost_cost_usd == 0


def test_the_edge_wins_a_tie_with_the_user() -> None:
    found = record(QUESTIONS[0])
    run = chat_outcome(found, User(30.0, True), timeout_s=30.0)
    assert run.timed_out and not run.abandoned


def test_a_job_is_never_cut_and_reaches_users_who_watch_or_come_back() -> None:
    found = record(QUESTIONS[0])
    watching = job_outcome(found, User(found.total_s + 10, False))
    gone = job_outcome(found, User(1.0, False))
    back = job_outcome(found, User(1.0, True))
    assert not (watching.timed_out or gone.timed_out or back.timed_out)
    assert watching.seen_live and watching.delivered
    assert not gone.delivered and gone.abandoned and gone.finished
    assert back.delivered and not back.seen_live
    assert gone.cost_usd == back.cost_usd == pytest.approx(found.cost_usd)


def test_a_higher_return_rate_never_lowers_completion() -> None:
    rates = [
        summarize_runs(measure_jobs(SOME, "v2", return_rate=rate)).completion_rate
        for rate in (0.0, 0.5, 0.85, 1.0)
    ]
    assert rates == sorted(rates) and rates[-1] == 1.0


def test_returning_users_are_the_same_people_at_any_rate() -> None:
    low = users(40, seed=2, return_rate=0.5)
    high = users(40, seed=2, return_rate=0.9)
    assert [u.patience_s for u in low] == [u.patience_s for u in high]
    assert all(
        h.returns_when_notified for lo, h in zip(low, high, strict=True) if lo.returns_when_notified
    )
    with pytest.raises(ValueError, match="return_rate"):
        users(3, return_rate=1.5)


def test_a_slower_batch_delivers_no_more_answers_and_costs_the_same() -> None:
    default = summarize_runs(measure_jobs(SOME, "v3"))
    day = summarize_runs(measure_jobs(SOME, "v3", batch_turnaround_s=24 * 3600.0))
    assert day.seen_live_rate == 0 and day.completion_rate <= default.completion_rate
    assert day.cost_per_question_usd == pytest.approx(default.cost_per_question_usd)
    assert day.median_time_to_answer_s is not None and day.median_time_to_answer_s > 24 * 3600


def test_a_chat_deploy_loses_the_chats_still_running() -> None:
    for at_s in (10.0, 50.0):
        outcome = deploy_chat(SOME, at_s=at_s)
        assert outcome.answered == sum(s.total_s <= at_s for s in schedules(SOME))
        assert outcome.in_flight + outcome.answered == len(SOME)
    early, late = deploy_chat(SOME, at_s=10.0), deploy_chat(SOME, at_s=50.0)
    assert late.answered > early.answered == 0
    assert late.tool_calls_lost > early.tool_calls_lost


def test_a_job_deploy_answers_everything_and_redoes_only_the_interrupted_steps() -> None:
    outcome = deploy_outcome(SOME[:6], "v2", at_s=30.0, grace_s=5.0)
    assert outcome.answered == 6 and outcome.finished_steps_redone == 0
    killed = sum(s.total_s > 35.0 for s in schedules(SOME[:6], "v2"))
    assert outcome.interrupted_steps == killed > 0  # the others finish within the grace period
    assert outcome.steps_redone_without_checkpoints > outcome.interrupted_steps
    with pytest.raises(ValueError, match="v2 or v3"):
        deploy_outcome(SOME, "v1")


def test_the_comparison_is_identical_on_every_run() -> None:
    assert compare(SOME) == compare(SOME)
