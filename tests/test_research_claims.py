"""The results table's claims, asserted over a seeded run of all three versions.

The article claims: 0% timeout failures (from half), about 30% cheaper, a higher
completion rate, and deploys that do not kill in-flight research. The worked
example computes each on simulated time for the same 60 questions and the same
simulated users, so the figures are exact and the same on every machine.
"""

from __future__ import annotations

from typing import Any

import pytest

from stream_or_queue.research.compare import Comparison, compare


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    from stream_or_queue.course import setup

    setup(seed=0, quiet=True)
    return compare(seed=0)


def test_v2_and_v3_never_time_out_while_v1_often_does(comparison: Comparison) -> None:
    s = comparison.summaries
    assert s["v2"].timeout_rate == 0 and s["v3"].timeout_rate == 0
    assert 0.3 <= s["v1-edge"].timeout_rate <= 0.7  # the edge alone: "half" in the article
    assert s["v1"].timeout_rate + s["v1"].abandonment_rate >= 0.3  # cut or given up on


def test_v3_costs_at_least_30_percent_less_per_question(comparison: Comparison) -> None:
    s = comparison.summaries
    assert s["v3"].cost_per_question_usd <= 0.7 * s["v1"].cost_per_question_usd
    assert s["v3"].cost_per_answer_usd < s["v2"].cost_per_answer_usd < s["v1"].cost_per_answer_usd


def test_completion_is_higher_as_a_job(comparison: Comparison) -> None:
    s = comparison.summaries
    assert s["v2"].completion_rate > s["v1"].completion_rate
    assert s["v3"].completion_rate > s["v1"].completion_rate
    assert all(r.finished for r in comparison.runs["v2"] + comparison.runs["v3"])


def test_a_deploy_loses_work_only_in_the_chat_box(comparison: Comparison) -> None:
    d = comparison.deploys
    # Work thrown away: every chat was in flight and billed, none answered, and the tool
    # calls it had finished are gone with it.
    assert d["v1"].in_flight == d["v1"].questions and d["v1"].answered == 0
    assert d["v1"].tool_calls_lost > 0 and d["v1"].cost_lost_usd > 0
    for version in ("v2", "v3"):
        assert d[version].finished_steps_redone == 0
        assert d[version].answered == d[version].questions


def test_every_row_of_the_table_holds(comparison: Comparison, capsys: Any) -> None:
    for row in comparison.rows:
        print(f"{row.metric:38} {row.v1:>9} {row.v2:>9} {row.v3:>9}  {row.claim}")
    assert [r.metric for r in comparison.rows if not r.holds] == []
