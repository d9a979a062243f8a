"""The decision function: the article's table, the exceptions, and bad input."""

from __future__ import annotations

import pytest

from stream_or_queue import Pattern, choose_pattern
from stream_or_queue.choose import USE_CASES, Feature, decide

ARTICLE_TABLE = {
    "Chat assistant": Pattern.SYNC_STREAMING,
    "Code completion": Pattern.SYNC_STREAMING,
    "Summarize this 300-page document": Pattern.ASYNC_BACKGROUND,
    "Generate 10,000 product descriptions": Pattern.BATCH,
    "Research agent - answer in 2 minutes": Pattern.ASYNC_PROGRESS,
    "Classify all 50M tickets in our DB": Pattern.SCHEDULED_BATCH,
    "Voice assistant": Pattern.SYNC_STREAMING,
    "Approve / reject this expense": Pattern.SYNC,
}


@pytest.mark.parametrize("feature", USE_CASES, ids=lambda f: f.name)
def test_use_case_table_matches_the_article(feature: Feature) -> None:
    decision = decide(feature)
    assert decision.pattern is ARTICLE_TABLE[feature.name]
    assert decision.reasons, "every decision says why"


def test_every_pattern_is_reachable() -> None:
    reached = {d.pattern for d in map(decide, USE_CASES)}
    reached.add(
        choose_pattern(user_waiting=True, expected_seconds=0.01, latency_budget_ms=20).pattern
    )
    reached.add(
        choose_pattern(user_waiting=True, expected_seconds=30, regulatory_sync_ack=True).pattern
    )
    assert reached == set(Pattern)


def test_not_waiting_means_async() -> None:
    decision = choose_pattern(user_waiting=False, expected_seconds=5)
    assert decision.pattern is Pattern.ASYNC_BACKGROUND
    assert any("notify" in a for a in decision.advice)


def test_long_task_with_a_watcher_gets_progress_events_and_mentions_the_edge() -> None:
    decision = choose_pattern(user_waiting=True, expected_seconds=90)
    assert decision.pattern is Pattern.ASYNC_PROGRESS
    assert any("edge timeout" in r for r in decision.reasons)


def test_fifteen_seconds_is_the_line() -> None:
    assert choose_pattern(user_waiting=True, expected_seconds=15).pattern is Pattern.SYNC_STREAMING
    assert choose_pattern(user_waiting=True, expected_seconds=16).pattern is Pattern.ASYNC_PROGRESS


def test_durability_forces_a_job_even_when_short() -> None:
    decision = choose_pattern(user_waiting=True, expected_seconds=3, needs_durability=True)
    assert decision.pattern is Pattern.ASYNC_PROGRESS


def test_batch_savings_alone_make_unwatched_work_a_batch() -> None:
    decision = choose_pattern(user_waiting=False, expected_seconds=20, batch_savings_matter=True)
    assert decision.pattern is Pattern.BATCH
    assert any("50%" in a for a in decision.advice)


def test_more_items_than_one_batch_holds_is_scheduled() -> None:
    decision = choose_pattern(user_waiting=False, expected_seconds=60, items=250_000)
    assert decision.pattern is Pattern.SCHEDULED_BATCH
    assert any("3 batches" in r for r in decision.reasons)


def test_realtime_budget_beats_everything() -> None:
    decision = choose_pattern(
        user_waiting=True, expected_seconds=0.05, latency_budget_ms=50, items=1_000
    )
    assert decision.pattern is Pattern.PRECOMPUTED


def test_conversational_slow_answer_warns_of_a_dead_chat() -> None:
    decision = choose_pattern(user_waiting=True, expected_seconds=30, conversational=True)
    assert decision.pattern is Pattern.ASYNC_PROGRESS
    assert any("dead chat" in a for a in decision.advice)


def test_explain_lists_pattern_reasons_and_tips() -> None:
    text = choose_pattern(
        user_waiting=True, expected_seconds=2, conversational=True, latency_budget_ms=400
    ).explain()
    assert text.startswith("sync streaming:")
    assert "because" in text and "low-latency model" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expected_seconds": -1}, "expected_seconds"),
        ({"expected_seconds": 1, "items": 0}, "items"),
        ({"expected_seconds": 1, "latency_budget_ms": 0}, "latency_budget_ms"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choose_pattern(user_waiting=True, **kwargs)  # type: ignore[arg-type]


def test_feature_needs_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        Feature(" ", user_waiting=True, expected_seconds=1)


def test_a_missed_budget_is_said_first_whatever_the_pattern() -> None:
    decision = choose_pattern(
        user_waiting=False, expected_seconds=3, latency_budget_ms=500, items=1_000
    )
    assert decision.pattern is Pattern.BATCH
    assert decision.reasons[0].startswith("it takes about 3000 ms")
    assert decision.advice[0].startswith("make it faster")
    assert "1,000 items are bulk work" in decision.reasons


def test_a_regulated_slow_step_is_acknowledged_then_run_as_a_job() -> None:
    slow = choose_pattern(user_waiting=True, expected_seconds=30, regulatory_sync_ack=True)
    fast = choose_pattern(user_waiting=True, expected_seconds=0.2, regulatory_sync_ack=True)
    assert slow.pattern is fast.pattern is Pattern.SYNC_ACK_ASYNC
    assert any("slower than an acknowledgement" in r for r in slow.reasons)
    assert not any("slower than an acknowledgement" in r for r in fast.reasons)


def test_a_recurring_job_that_fits_one_batch_is_still_scheduled() -> None:
    decision = choose_pattern(user_waiting=False, expected_seconds=60, items=500, recurring=True)
    assert decision.pattern is Pattern.SCHEDULED_BATCH
    assert any("recurs" in r for r in decision.reasons)
    assert not any("batches of at most" in r for r in decision.reasons)
