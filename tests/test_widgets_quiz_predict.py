"""Predict first: a prediction asked before a measurement is compared with it afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from stream_or_queue.widgets import Quiz

NAME = "99_predict"
QUESTION = "cut-share"


def question() -> dict[str, Any]:
    why = "a long enough explanation of this option"
    return {
        "id": QUESTION,
        "question": "Predict: how many of 24 requests does a 60 s edge cut?",
        "predicts": "12 of 24",
        "options": [
            {"text": "0 of 24", "why": why},
            {"text": "12 of 24", "why": why, "right": True},
            {"text": "24 of 24", "why": why},
        ],
    }


def ask() -> Quiz:
    other = {**question(), "id": "other", "predicts": None}
    return Quiz([question(), other], name=NAME, only=[QUESTION])


def test_nothing_picked_prints_the_measurement_and_the_matching_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ask()
    Quiz.compare(NAME, QUESTION, "12 of 24 cut")
    assert capsys.readouterr().out.splitlines() == [
        "measured: 12 of 24 cut",
        "your prediction: none picked above; the option the measurement matches: 12 of 24",
    ]


def test_a_pick_is_judged_against_the_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    card = ask().cards[0]
    card.choose(card.right_position)
    Quiz.compare(NAME, QUESTION, "12 of 24 cut")
    assert "your prediction: 12 of 24 (right)" in capsys.readouterr().out
    wrong = (card.right_position + 1) % len(card.order)
    card.choose(wrong)
    Quiz.compare(NAME, QUESTION, "12 of 24 cut")
    out = capsys.readouterr().out
    assert "not quite - the measurement matches: 12 of 24" in out
    assert f"your prediction: {card.question.options[card.order[wrong]].text} (" in out


def test_a_prediction_that_never_ran_is_said_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    Quiz.compare("no_such_notebook", "nothing", "1 s")
    assert "has not run in this kernel" in capsys.readouterr().out
