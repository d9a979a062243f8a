"""Predict first: a prediction asked before a measurement is compared with it afterwards."""

from __future__ import annotations

import pytest

from stream_or_queue.widgets import Quiz

NOTEBOOK = "04_why_long_sync_requests_fail"
QUESTION = "held-request-cut-share"


def test_nothing_picked_prints_the_measurement_and_the_matching_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Quiz.for_notebook(NOTEBOOK, only=[QUESTION])
    Quiz.compare(NOTEBOOK, QUESTION, "12 of 24 cut")
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "measured: 12 of 24 cut",
        "your prediction: none picked above; the option the measurement matches: 12 of 24",
    ]


def test_a_pick_is_judged_against_the_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    quiz = Quiz.for_notebook(NOTEBOOK, only=[QUESTION])
    card = quiz.cards[0]
    card.choose(card.right_position)
    Quiz.compare(NOTEBOOK, QUESTION, "12 of 24 cut")
    assert "your prediction: 12 of 24 (right)" in capsys.readouterr().out
    wrong = (card.right_position + 1) % len(card.order)
    card.choose(wrong)
    Quiz.compare(NOTEBOOK, QUESTION, "12 of 24 cut")
    out = capsys.readouterr().out
    assert "not quite - the measurement matches: 12 of 24" in out
    assert card.question.options[card.order[wrong]].text in out


def test_a_prediction_that_never_ran_is_said_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    Quiz.compare("no_such_notebook", "nothing", "1 s")
    assert "has not run in this kernel" in capsys.readouterr().out
