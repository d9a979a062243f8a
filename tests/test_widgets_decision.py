"""DecisionGuide, driven headless through its widget values."""

from __future__ import annotations

from stream_or_queue import Pattern
from stream_or_queue.widgets import DecisionGuide


def test_defaults_describe_a_short_watched_answer() -> None:
    guide = DecisionGuide()
    assert guide.decision is not None
    assert guide.decision.pattern is Pattern.SYNC_STREAMING
    assert "sync streaming" in guide.answer.value


def test_answer_follows_the_controls() -> None:
    guide = DecisionGuide()
    guide.expected_seconds.value = 120
    assert guide.decision is not None and guide.decision.pattern is Pattern.ASYNC_PROGRESS
    guide.user_waiting.value = False
    assert guide.decision.pattern is Pattern.ASYNC_BACKGROUND
    guide.items.value = 10_000
    assert guide.decision.pattern is Pattern.BATCH
    guide.recurring.value = True
    assert guide.decision.pattern is Pattern.SCHEDULED_BATCH
    assert "scheduled batch" in guide.answer.value


def test_realtime_budget_only_counts_when_ticked() -> None:
    guide = DecisionGuide()
    guide.latency_budget_ms.value = 50
    assert guide.decision is not None and guide.decision.pattern is Pattern.SYNC_STREAMING
    guide.realtime.value = True
    assert guide.decision.pattern is Pattern.PRECOMPUTED


def test_feature_name_is_escaped() -> None:
    guide = DecisionGuide()
    guide.name.value = "<script>alert(1)</script>"
    assert "<script>" not in guide.answer.value
    assert "&lt;script&gt;" in guide.answer.value


def test_repr_is_deterministic() -> None:
    assert repr(DecisionGuide()) == "DecisionGuide(pattern='sync streaming')"


def test_a_missed_latency_budget_is_said_and_numbers_apply_as_typed() -> None:
    guide = DecisionGuide()
    guide.expected_seconds.value = 0.3
    guide.realtime.value = True
    guide.latency_budget_ms.value = 150.0
    assert "misses its 150 ms budget" in guide.answer.value
    assert "300 ms" in guide.answer.value
    for number in (guide.expected_seconds, guide.latency_budget_ms, guide.items):
        assert number.continuous_update  # applied on each change, not only on Enter or blur


def test_checkbox_labels_take_their_full_length() -> None:
    guide = DecisionGuide()
    for box in (guide.needs_durability, guide.batch_savings, guide.regulatory):
        assert box.layout.width == "auto" and not box.indent


def test_the_saved_form_lists_the_answers_and_the_advice() -> None:
    from stream_or_queue.widgets._static import MARK

    guide = DecisionGuide()
    guide.name.value = "nightly <digest>"
    guide.user_waiting.value = False
    guide.items.value = 10_000
    guide.recurring.value = True
    text, page = guide.static_forms()
    lines = text.splitlines()
    assert lines[0] == f"DecisionGuide ({MARK})"
    assert "  Feature nightly <digest>" in lines and "  Items per run 10,000" in lines
    assert "  Is the user actively waiting? no" in lines
    assert "  Hard latency budget? no" in lines
    assert guide.decision is not None
    assert f"-> {Pattern.SCHEDULED_BATCH}:" in text
    assert all(f"  - {reason}" in lines for reason in guide.decision.reasons)
    assert "nightly &lt;digest&gt;" in page and "<digest>" not in page
    guide.realtime.value = True
    guide.latency_budget_ms.value = 150
    assert "  Hard latency budget? yes, 150 ms" in guide.static_text().splitlines()
