"""Every quick check in notebooks/quiz is well formed, and the quiz widget behaves."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from browser import _write_settings, wait_until_idle
from nbformat.v4 import new_code_cell, new_notebook

from stream_or_queue._subprocess import stop_process
from stream_or_queue.widgets import Quiz
from stream_or_queue.widgets.quiz import (
    PICK_FIRST,
    Question,
    QuizError,
    find_quiz_file,
    load_questions,
)

ROOT = Path(__file__).resolve().parent.parent
QUIZ_DIR = ROOT / "notebooks" / "quiz"
QUIZ_FILES = sorted(QUIZ_DIR.glob("*.json"))


def _question(answer: int = 1) -> dict[str, object]:
    return {
        "question": "Which one?",
        "options": ["first", "second", "third"],
        "answer": answer,
        "explanations": ["not the first", "the second, yes", "not the third"],
    }


def test_there_are_quiz_files() -> None:
    assert QUIZ_FILES, "notebooks/quiz/ holds no quiz"


@pytest.mark.parametrize("path", QUIZ_FILES, ids=[p.stem for p in QUIZ_FILES])
def test_quiz_file_is_well_formed(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"questions"}
    assert 2 <= len(data["questions"]) <= 4
    for item in data["questions"]:
        options, explanations = item["options"], item["explanations"]
        assert isinstance(item["question"], str) and item["question"].strip()
        assert isinstance(item["answer"], int) and not isinstance(item["answer"], bool)
        assert 0 <= item["answer"] < len(options), "the answer index must name an option"
        assert len(explanations) == len(options), "one explanation per option"
        assert all(isinstance(o, str) and o.strip() for o in options)
        assert all(isinstance(e, str) and e.strip() for e in explanations)
        assert len(set(options)) == len(options)
    # The loader agrees (same rules, one place in the library).
    assert len(load_questions(path)) == len(data["questions"])


@pytest.mark.parametrize("path", QUIZ_FILES, ids=[p.stem for p in QUIZ_FILES])
def test_every_option_gives_its_own_explanation(path: Path) -> None:
    quiz = Quiz.for_notebook(path.stem)
    for card in quiz.cards:
        for index, explanation in enumerate(card.question.explanations):
            text = card.choose(index)
            assert explanation in text
            assert card.result is (index == card.question.answer)
            assert explanation.replace("'", "&#x27;") in card.feedback.value


def test_check_without_a_choice_asks_for_one() -> None:
    quiz = Quiz([_question(), _question(0)])
    card = quiz.cards[0]
    card.check.click()
    assert PICK_FIRST in card.feedback.value
    assert card.result is None
    assert quiz.score == 0


def test_right_and_wrong_answers_are_told_apart_and_scored() -> None:
    quiz = Quiz([_question(1), _question(2)])
    quiz.cards[0].choices.value = 1
    quiz.cards[0].check.click()
    assert "Right" in quiz.cards[0].feedback.value
    assert "the second, yes" in quiz.cards[0].feedback.value
    quiz.cards[1].choices.value = 0
    quiz.cards[1].check.click()
    assert "Not quite" in quiz.cards[1].feedback.value
    assert "not the first" in quiz.cards[1].feedback.value
    assert quiz.score == 1
    # Changing one's mind and checking again updates the verdict.
    quiz.cards[1].choose(2)
    assert quiz.score == 2


def test_html_in_questions_is_escaped() -> None:
    item = _question()
    item["question"] = "Is <script>alert(1)</script> shown?"
    item["explanations"] = ["<b>x</b>", "y", "z"]
    quiz = Quiz([item, _question()])
    assert "<script>" not in quiz.cards[0].prompt.value
    quiz.cards[0].choose(0)
    assert "<b>x</b>" not in quiz.cards[0].feedback.value


def test_text_form_is_deterministic_and_complete() -> None:
    first = Quiz([_question(), _question()], name="99_demo")
    second = Quiz([_question(), _question()], name="99_demo")
    text = first._repr_mimebundle_()["text/plain"]
    assert text == second._repr_mimebundle_()["text/plain"] == repr(first)
    assert "99_demo" in text and "2 questions" in text
    assert "c) third" in text
    assert "model" not in text and "0x" not in text
    assert len(text) > 110  # not cut by ipywidgets' default repr


def test_for_notebook_finds_the_file_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = QUIZ_FILES[0].stem
    for where in (ROOT, ROOT / "notebooks", tmp_path):
        monkeypatch.chdir(where)
        assert find_quiz_file(name).resolve() == QUIZ_FILES[0].resolve()
        assert Quiz.for_notebook(name).name == name


def test_for_notebook_accepts_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"questions": [_question(), _question(0)]}), encoding="utf-8")
    quiz = Quiz.for_notebook(path)
    assert quiz.name == "mine" and len(quiz.cards) == 2
    assert len(Quiz.for_notebook(str(path)).cards) == 2


def test_unknown_notebook_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("no quiz named 'nope_never.json'")):
        Quiz.for_notebook("nope_never")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answer": 3}, "numbered 0..2"),
        ({"answer": True}, "index of the right option"),
        ({"answer": "1"}, "index of the right option"),
        ({"explanations": ["a", "b"]}, "one string per option"),
        ({"explanations": ["a", "", "c"]}, "non-empty"),
        ({"options": ["only"]}, "at least 2"),
        ({"options": ["same", "same", "other"]}, "same text"),
        ({"question": "  "}, "non-empty string"),
    ],
)
def test_bad_questions_are_refused_with_where_and_why(
    change: dict[str, object], message: str
) -> None:
    bad = {**_question(), **change}
    with pytest.raises(QuizError, match=message) as info:
        load_questions([_question(), bad], where="99_demo")
    assert "99_demo: question 2" in str(info.value)


@pytest.mark.parametrize("count", [0, 1, 5])
def test_two_to_four_questions(count: int) -> None:
    with pytest.raises(QuizError, match="2 to 4 questions"):
        load_questions([_question()] * count)


def test_a_broken_json_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(QuizError, match=re.escape("broken.json: not valid JSON")):
        Quiz.for_notebook(path)


def test_question_feedback_is_pure() -> None:
    question = Question.from_dict(_question())
    assert question.feedback(None) == (None, PICK_FIRST)
    assert question.feedback(1)[0] is True
    assert question.feedback(0)[0] is False


# --- in a real front end -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab on loopback, rooted in a scratch folder (autosave cannot touch the repo)."""
    folder = tmp_path / "course"
    (folder / "quiz").mkdir(parents=True)
    shutil.copy(QUIZ_DIR / "00_welcome.json", folder / "quiz" / "00_welcome.json")
    cell = new_code_cell(
        'from stream_or_queue.widgets import Quiz\nQuiz.for_notebook("00_welcome")'
    )
    kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook = new_notebook(cells=[cell], metadata={"kernelspec": kernel})
    nbformat.write(notebook, folder / "quiz_demo.ipynb")

    _write_settings(tmp_path / "settings")  # no "Select Kernel" dialog in front of the cell
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    for name in ("STREAM_OR_QUEUE_MODE", "REDIS_URL", "ANTHROPIC_BASE_URL"):
        env.pop(name, None)
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root",
            f"--ServerApp.root_dir={folder}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # bounded: up to ~60 s for the server to answer
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("jupyter lab exited during start-up")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        yield f"{url}/lab/tree/quiz_demo.ipynb?token={token}", folder
    finally:
        stop_process(server, timeout=20)


@pytest.mark.browser
@pytest.mark.slow
def test_quiz_in_jupyterlab_explains_a_wrong_then_a_right_answer(
    jupyter_lab: tuple[str, Path], chromium_path: str
) -> None:
    from conftest import CHROMIUM_ARGS

    sync_api = pytest.importorskip("playwright.sync_api")
    url, _ = jupyter_lab
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            wait_until_idle(page)  # a keypress sent before the kernel is ready can be lost
            page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
            page.keyboard.press("Shift+Enter")
            quiz = page.locator(".widget-radio-box").first
            quiz.wait_for(state="visible")
            page.get_by_text("c) The Message Batches API", exact=False).wait_for()
            # The first question's card: the innermost box holding its text.
            card = page.locator(".widget-vbox", has_text="Which pattern fits?").last
            card.get_by_text("b) A background job", exact=False).click()
            card.get_by_role("button", name="Check").click()
            feedback = card.locator(".widget-html").last
            sync_api.expect(feedback).to_contain_text("Not quite")
            sync_api.expect(feedback).to_contain_text("is not a chat")
            card.get_by_text("a) A sync stream", exact=False).click()
            card.get_by_role("button", name="Check").click()
            sync_api.expect(feedback).to_contain_text("Right.")
        finally:
            browser.close()
