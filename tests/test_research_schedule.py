"""`research.schedule`: a question's run recorded once, exactly, on simulated time."""

from __future__ import annotations

import math

import pytest

from stream_or_queue import config
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.schedule import (
    batch_wait_s,
    default_batch_turnaround_s,
    record,
)
from stream_or_queue.simulator import default_simulator


def test_the_same_question_and_seed_give_the_same_schedule() -> None:
    first = record(QUESTIONS[3], "v2", seed=5)
    from stream_or_queue.research import schedule

    schedule._record.cache_clear()  # recorded again, not read from the cache
    assert record(QUESTIONS[3], "v2", seed=5) == first


def test_recording_leaves_the_notebook_s_simulator_alone() -> None:
    before = len(default_simulator().ledger)
    record(QUESTIONS[4], "v3", seed=1)
    assert len(default_simulator().ledger) == before


def test_steps_follow_each_other_and_add_up_to_the_run() -> None:
    found = record(QUESTIONS[0])
    assert found.steps[0].start_s == 0
    for before, after in zip(found.steps, found.steps[1:], strict=False):
        assert after.start_s == pytest.approx(before.end_s)
    assert found.total_s == pytest.approx(sum(s.duration_s for s in found.steps))
    assert found.tool_calls == sum(s.kind == "tool" for s in found.steps) >= 5
    assert found.steps[-1].kind == "model"  # v2 ends with the answer


def test_v1_and_v2_share_a_schedule_and_v3_ends_waiting_for_its_batch() -> None:
    v1, v2, v3 = (record(QUESTIONS[1], v) for v in ("v1", "v2", "v3"))
    assert v1.steps == v2.steps and v1.version == "v1"
    assert v3.steps[-1].kind == "batch" and v3.steps[-1].batch
    assert v3.steps[-1].duration_s == batch_wait_s(default_batch_turnaround_s())


def test_a_longer_batch_moves_the_answer_and_not_the_bill() -> None:
    v3 = record(QUESTIONS[2], "v3")
    day = v3.with_batch_turnaround(24 * 3600.0)
    assert day.total_s - v3.total_s == pytest.approx(
        batch_wait_s(24 * 3600.0) - batch_wait_s(default_batch_turnaround_s())
    )
    assert day.cost_usd == pytest.approx(v3.cost_usd)


def test_a_batch_is_noticed_at_the_next_status_check() -> None:
    assert batch_wait_s(0.0) == 0.0
    poll_s = config.RESEARCH_BATCH_POLL_S
    assert batch_wait_s(1.0) == poll_s
    assert batch_wait_s(poll_s) == poll_s
    with pytest.raises(ValueError, match="turnaround_s"):
        batch_wait_s(-1.0)


def test_a_cut_bills_what_was_generated_so_far() -> None:
    found = record(QUESTIONS[0])
    answer = found.steps[-1]
    assert answer.output_tokens_by(answer.start_s) == 0
    assert answer.output_tokens_by(answer.start_s + answer.ttft_s) == 1
    middle = answer.output_tokens_by((answer.start_s + answer.ttft_s + answer.end_s) / 2)
    assert 1 < middle < answer.output_tokens
    assert answer.output_tokens_by(answer.end_s) == answer.output_tokens
    costs = [found.cost_by(t) for t in (0.0, 20.0, 40.0, found.total_s, math.inf)]
    assert costs == sorted(costs) and costs[0] == 0
    assert costs[-1] == pytest.approx(found.cost_usd) == pytest.approx(costs[-2])


def test_tool_results_count_only_once_the_tool_has_finished() -> None:
    found = record(QUESTIONS[0])
    tool = next(s for s in found.steps if s.kind == "tool")
    assert found.tool_calls_by(tool.end_s - 0.001) == 0
    assert found.tool_calls_by(tool.end_s) == 1
    assert found.step_at(tool.start_s) == tool


def test_a_chat_stream_is_never_silent_longer_than_its_longest_step() -> None:
    found = record(QUESTIONS[0])
    sent = found.sent_at()
    assert sent == sorted(sent) and sent[-1] == pytest.approx(found.total_s)
    assert found.longest_silence_s <= max(s.duration_s for s in found.steps)
    assert found.longest_silence_s < found.total_s


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="v1, v2 or v3"):
        record(QUESTIONS[0], "v4")


def test_the_default_turnaround_is_the_simulator_s() -> None:
    assert (
        default_batch_turnaround_s() == config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S
    )


def test_a_change_of_timing_in_config_is_not_answered_from_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = record(QUESTIONS[5])
    monkeypatch.setattr(config, "RESEARCH_NOTES_S", (20.0, 40.0))
    slower = record(QUESTIONS[5])
    assert slower.total_s > before.total_s
