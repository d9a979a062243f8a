"""Every quick check is well formed and tests understanding, and the quiz widget behaves."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
import pytest
from browser import open_and_run_notebook
from nbformat.v4 import new_code_cell, new_notebook

from stream_or_queue.widgets import Quiz
from stream_or_queue.widgets.quiz import (
    DEFAULT_LEARNER,
    LEARNER_ENV,
    MAX_QUESTIONS,
    MIN_QUESTIONS,
    PICK_FIRST,
    RIGHT,
    QuestionCard,
    QuizError,
    display_order,
    learner,
    load_questions,
    quiz_names,
    quiz_text,
)

ROOT = Path(__file__).resolve().parent.parent
NAMES = quiz_names()
NOTEBOOKS = ROOT / "notebooks"


def _question(answer: int = 1, qid: str = "which") -> dict[str, object]:
    words = ["first", "second", "third"]
    return {
        "id": qid,
        "question": "Which one?",
        "options": [
            {"text": word, "why": f"the {word}, {'yes' if i == answer else 'no'}"}
            | ({"right": True} if i == answer else {})
            for i, word in enumerate(words)
        ],
    }


def _pair(first: int = 1, second: int = 0) -> list[dict[str, object]]:
    return [_question(first, "one"), _question(second, "two")]


def test_every_lesson_has_a_quiz_and_every_quiz_a_lesson() -> None:
    lessons = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert lessons == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_quiz_file_is_well_formed(name: str) -> None:
    data = json.loads(quiz_text(name))
    assert set(data) == {"questions"}
    questions = load_questions(data, where=name)
    assert MIN_QUESTIONS <= len(questions) <= MAX_QUESTIONS
    assert all(sum(o.right for o in q.options) == 1 for q in questions)


@pytest.mark.parametrize("name", NAMES)
def test_every_option_gives_its_own_explanation_in_any_order(name: str) -> None:
    for seed in (None, "ana", "bo"):
        quiz = Quiz.for_notebook(name, learner_seed=seed)
        for card in quiz.cards:
            for shown, index in enumerate(card.order):
                option = card.question.options[index]
                text = card.choose(shown)
                assert option.why in text
                assert card.result is option.right
                assert html.escape(option.why) in card.feedback.value
                assert f") {option.text}" in card.choices.options[shown][0]


def test_a_right_answer_says_right_once() -> None:
    quiz = Quiz(_pair())
    card = quiz.cards[0]
    text = card.choose(card.right_position)
    assert text.startswith(RIGHT) and text.count("Right") == 1


def test_an_explanation_that_repeats_the_verdict_is_refused() -> None:
    bad = _question()
    bad["options"][1]["why"] = "Right: the second."  # type: ignore[index]
    with pytest.raises(QuizError, match="starts with a verdict"):
        load_questions([bad, _question(0, "two")], where="99_demo")


def test_check_without_a_choice_asks_for_one() -> None:
    quiz = Quiz(_pair())
    card = quiz.cards[0]
    card.check.click()
    assert PICK_FIRST in card.feedback.value
    assert card.result is None
    assert quiz.score == 0


def test_right_and_wrong_answers_are_told_apart_and_scored() -> None:
    quiz = Quiz(_pair(1, 2))
    first, second = quiz.cards
    first.choices.value = first.right_position
    first.check.click()
    assert "Right" in first.feedback.value and "the second, yes" in first.feedback.value
    wrong = next(i for i in range(3) if i != second.right_position)
    second.choose(wrong)
    assert "Not quite" in second.feedback.value and ", no" in second.feedback.value
    assert quiz.score == 1
    # Changing one's mind and checking again updates the verdict.
    second.choose(second.right_position)
    assert quiz.score == 2


def test_html_in_questions_is_escaped() -> None:
    item = _question()
    item["question"] = "Is <script>alert(1)</script> shown?"
    item["options"][0]["why"] = "<b>x</b>"  # type: ignore[index]
    quiz = Quiz([item, _question(0, "two")])
    assert "<script>" not in quiz.cards[0].prompt.value
    quiz.cards[0].choose(quiz.cards[0].order.index(0))
    assert "<b>x</b>" not in quiz.cards[0].feedback.value


def test_text_form_is_deterministic_complete_and_in_displayed_order() -> None:
    first = Quiz(_pair(), name="99_demo")
    second = Quiz(_pair(), name="99_demo")
    text = first._repr_mimebundle_()["text/plain"]
    assert text == second._repr_mimebundle_()["text/plain"] == repr(first)
    assert "99_demo" in text and "2 questions" in text
    card = first.cards[0]
    shown = [line.split(") ", 1)[1] for line in card.lines()[1:]]
    assert shown == [card.question.options[i].text for i in card.order]
    assert "model" not in text and "0x" not in text
    assert len(text) > 110  # not cut by ipywidgets' default repr


def test_the_order_is_a_shuffle_per_learner_and_stable_for_each() -> None:
    questions = load_questions(_pair())
    orders = {
        seed: tuple(display_order(q, seed=seed) for q in questions)
        for seed in (f"learner-{n}" for n in range(12))
    }
    assert len(set(orders.values())) > 1, "every learner sees the same order"
    again = {seed: tuple(display_order(q, seed=seed) for q in questions) for seed in orders}
    assert again == orders
    assert all(sorted(order) == [0, 1, 2] for pair in orders.values() for order in pair)


def test_the_learner_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LEARNER_ENV, raising=False)
    assert learner() == DEFAULT_LEARNER
    monkeypatch.setenv(LEARNER_ENV, "  ana ")
    assert learner() == "ana"
    orders = set()
    for seed in ("ana", "bo", "cy", "di", "ed", "fa"):
        monkeypatch.setenv(LEARNER_ENV, seed)
        orders.add(tuple(card.order for card in Quiz.for_notebook(NAMES[0]).cards))
    assert len(orders) > 1


def test_a_python_process_of_its_own_shows_the_same_order() -> None:
    code = (
        "from stream_or_queue.widgets import Quiz; "
        f"print([c.order for c in Quiz.for_notebook({NAMES[0]!r}).cards])"
    )
    env = {k: v for k, v in os.environ.items() if k != LEARNER_ENV}
    env["PYTHONHASHSEED"] = "12345"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == str(
        [c.order for c in Quiz.for_notebook(NAMES[0], learner_seed=DEFAULT_LEARNER).cards]
    )


def test_only_picks_questions_by_id() -> None:
    first_id = load_questions(json.loads(quiz_text(NAMES[0])))[0].id
    quiz = Quiz.for_notebook(NAMES[0], only=[first_id])
    assert [q.id for q in quiz.questions] == [first_id]
    assert "1 question " in repr(quiz)
    with pytest.raises(QuizError, match="no question with id"):
        Quiz.for_notebook(NAMES[0], only=["no-such-id"])


def test_quizzes_are_package_data_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Quiz.for_notebook(NAMES[0]).name == NAMES[0]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["stream_or_queue"]
    package = ROOT / "src" / "stream_or_queue"
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    assert {package / "data" / "quiz" / f"{n}.json" for n in NAMES} <= shipped


def test_for_notebook_accepts_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"questions": _pair()}), encoding="utf-8")
    quiz = Quiz.for_notebook(path)
    assert quiz.name == "mine" and len(quiz.cards) == 2
    assert len(Quiz.for_notebook(str(path)).cards) == 2


def test_unknown_notebook_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("no quiz named 'nope_never.json'")):
        Quiz.for_notebook("nope_never")


def _set(item: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    target: Any = item
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("options.0.right", True, "exactly one option"),
        ("options.1.right", False, "exactly one option"),
        ("options.1.right", "yes", "right: Input should be a valid boolean"),
        ("options.2.why", "  ", "options › 2 › why"),
        ("options", [{"text": "only", "why": "alone", "right": True}], "at least 2"),
        ("options.2.text", "first", "same text"),
        ("question", "  ", "question: String should have at least 1 character"),
        ("id", "Has Spaces", "id: String should match pattern"),
        ("predicts", "42%", "must state the predicted figure '42%'"),
        ("surprise", 1, "Extra inputs are not permitted"),
    ],
)
def test_bad_questions_are_refused_with_where_and_why(
    path: str, value: object, message: str
) -> None:
    bad = _question(1, "two")
    _set(bad, path, value)
    with pytest.raises(QuizError, match=re.escape(message)) as info:
        load_questions([_question(), bad], where="99_demo")
    assert "99_demo: question 2" in str(info.value)


def test_two_questions_with_one_id_are_refused() -> None:
    with pytest.raises(QuizError, match="share an id"):
        load_questions([_question(), _question()])


@pytest.mark.parametrize("count", [0, 1, 5])
def test_two_to_four_questions(count: int) -> None:
    with pytest.raises(QuizError, match=f"at (least {MIN_QUESTIONS}|most {MAX_QUESTIONS})"):
        load_questions([_question(qid=f"q{n}") for n in range(count)])


def test_a_broken_json_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(QuizError, match=re.escape("broken.json: not valid JSON")):
        Quiz.for_notebook(path)


def test_question_feedback_is_pure() -> None:
    question = load_questions(_pair())[0]
    assert question.feedback(None) == (None, PICK_FIRST)
    assert question.feedback(1)[0] is True
    assert question.feedback(0)[0] is False


# --- the course's questions test understanding, not guessing ------------------------

SHARE = 0.40
"""No answer position, and not "the longest option", may be right more often than this."""


def _displayed_cards() -> list[QuestionCard]:
    return [
        card
        for name in NAMES
        for card in Quiz.for_notebook(name, learner_seed=DEFAULT_LEARNER).cards
    ]


def test_no_position_holds_too_many_right_answers() -> None:
    cards = _displayed_cards()
    positions = Counter(card.right_position for card in cards)
    worst, count = positions.most_common(1)[0]
    assert count <= SHARE * len(cards), (
        f"option {chr(97 + worst)}) is right in {count} of {len(cards)} questions: {positions}"
    )


def _strictly(pick: Any, card: QuestionCard) -> bool:
    """Is the right option strictly the longest (or shortest) one? A tie gives nothing away."""
    right = card.question.answer
    lengths = [len(option.text) for option in card.question.options]
    others = [n for i, n in enumerate(lengths) if i != right]
    return bool(pick(lengths[right], pick(others)) == lengths[right] != pick(others))


@pytest.mark.parametrize("pick", [max, min], ids=["longest", "shortest"])
def test_the_right_answer_is_rarely_the_longest_or_the_shortest(pick: Any) -> None:
    cards = _displayed_cards()
    tells = [card.question.id for card in cards if _strictly(pick, card)]
    assert len(tells) <= SHARE * len(cards), (
        f"the right answer is the {'longest' if pick is max else 'shortest'} option in "
        f"{len(tells)} of {len(cards)} questions: {tells}"
    )


def test_neither_longest_nor_shortest_is_a_rule_either() -> None:
    # By chance about 43% of these 3- and 4-option questions would have a right answer
    # of middling length; far more would make "skip the extremes" a winning rule.
    cards = _displayed_cards()
    middle = [c.question.id for c in cards if not _strictly(max, c) and not _strictly(min, c)]
    assert len(middle) <= 0.6 * len(cards), (
        f"the right answer is neither the longest nor the shortest option in {len(middle)} "
        f"of {len(cards)} questions"
    )


# A number on its own: not part of a name ("doc-1", "p95", "v2") or of a longer number.
_NUMBER = re.compile(
    r"(?<![\w.])(?<!\w-)\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,])(?<!\w-)\d+(?:\.\d+)?"
)


def _figures(text: str) -> set[str]:
    """The numbers in a text, normalised: '9,992' -> '9992', '0.70' -> '0.7'."""
    text = re.sub(r"`[^`]*`", " ", text)  # code spans quote code, not figures
    text = re.sub(r"\bnotebooks? \d+[a-d]?\b", " ", text)  # "notebook 04" names a lesson
    found = set()
    for raw in _NUMBER.findall(text):
        number = raw.replace(",", "")
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        found.add(number)
    return found


def _output_text(name: str) -> str:
    """Everything the committed notebook printed or displayed as text (its quiz cell aside)."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    parts = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or "Quiz.for_notebook" in cell.source:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            for kind in ("text/plain", "text/markdown"):
                parts.append(output.get("data", {}).get(kind, ""))
    return "\n".join(parts)


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_in_an_explanation_is_in_the_notebook_outputs(name: str) -> None:
    measured = _figures(_output_text(name))
    for question in load_questions(json.loads(quiz_text(name)), where=name):
        given = _figures(question.question) | set().union(
            *(_figures(o.text) for o in question.options)
        )
        for option in question.options:
            missing = _figures(option.why) - measured - given
            assert not missing, (
                f"{name} {question.id}: {sorted(missing)} in {option.why!r} is neither in the "
                "question nor in the notebook's outputs"
            )


@pytest.mark.parametrize("name", NAMES)
def test_every_quiz_asks_for_a_figure_the_notebook_measures(name: str) -> None:
    questions = load_questions(json.loads(quiz_text(name)), where=name)
    predictions = [q for q in questions if q.predicts]
    assert predictions, f"{name}: no question asks the learner to predict a measured figure"
    outputs = _output_text(name)
    for question in predictions:
        assert question.predicts is not None
        assert question.predicts in outputs, (
            f"{name} {question.id}: the notebook's outputs do not show {question.predicts!r}"
        )


# --- in a real front end -------------------------------------------------------------


@pytest.fixture
def quiz_notebook(course_lab: Any) -> str:
    """A notebook showing a quiz, in the suite's JupyterLab; its path under the root."""
    cell = new_code_cell(
        'from stream_or_queue.widgets import Quiz\nQuiz.for_notebook("00_welcome")'
    )
    kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook = new_notebook(cells=[cell], metadata={"kernelspec": kernel})
    nbformat.write(notebook, course_lab.root / "quiz_demo.ipynb")
    return "quiz_demo.ipynb"


@pytest.mark.browser
@pytest.mark.slow
def test_quiz_in_jupyterlab_explains_a_wrong_then_a_right_answer(
    course_lab: Any, lab_page: Any, quiz_notebook: str
) -> None:
    from playwright import sync_api

    lab, page = course_lab, lab_page
    open_and_run_notebook(page, lab, quiz_notebook, timeout_s=120)
    # What the kernel shows: the same default learner, so the same order as here.
    expected = Quiz.for_notebook("00_welcome", learner_seed=DEFAULT_LEARNER).cards[0]
    labels = [label for label, _ in expected.choices.options]
    right = expected.right_position
    wrong = next(i for i in range(len(labels)) if i != right)
    wrong_why = expected.question.options[expected.order[wrong]].why
    quiz = page.locator(".widget-radio-box").first
    quiz.wait_for(state="visible", timeout=60_000)
    page.get_by_text(labels[-1], exact=False).wait_for()
    # The first question's card: the innermost box holding its text.
    card = page.locator(".widget-vbox", has_text=expected.question.question[:40]).last
    card.get_by_text(labels[wrong], exact=True).click()
    card.get_by_role("button", name="Check").click()
    feedback = card.locator(".widget-html").last
    sync_api.expect(feedback).to_contain_text("Not quite")
    sync_api.expect(feedback).to_contain_text(wrong_why[:40])
    card.get_by_text(labels[right], exact=True).click()
    card.get_by_role("button", name="Check").click()
    sync_api.expect(feedback).to_contain_text("Right.")
