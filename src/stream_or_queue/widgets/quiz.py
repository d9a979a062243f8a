"""The *Quick check* at the end of every notebook: a few questions that explain themselves.

A learner picks an option and presses *Check*; the widget says whether the choice is
right and, for every option, why. The questions are data, next to the notebook
(`notebooks/quiz/NN_slug.json`), so a test can check all of them:

    {"questions": [{"question": "...", "options": ["...", "..."], "answer": 1,
                    "explanations": ["why option 0 is wrong", "why option 1 is right"]}]}

`Quiz.for_notebook("00_welcome")` finds that file whether the kernel runs in
`notebooks/`, at the repository root, or anywhere with the package installed in
development mode. Without a front end (nbval, tests), the widget still works:
`card.choices.value = 1; card.check.click()` and read `card.feedback.value`. Its
text form lists the questions, identically on every run, so nbval can compare it.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets

__all__ = [
    "MAX_QUESTIONS",
    "MIN_QUESTIONS",
    "Question",
    "QuestionCard",
    "Quiz",
    "QuizError",
    "find_quiz_file",
    "load_questions",
]

MIN_QUESTIONS = 2
MAX_QUESTIONS = 4
"""A quick check is short: two to four questions."""

QUIZ_DIR_ENV = "STREAM_OR_QUEUE_QUIZ_DIR"
"""Optional: a folder of quiz files that wins over the automatic search."""

RIGHT = "\N{HEAVY CHECK MARK} Right."
WRONG = "\N{HEAVY BALLOT X} Not quite."
PICK_FIRST = "Pick an answer first, then press Check."


class QuizError(ValueError):
    """A quiz file that does not follow the format; the message says where."""


@dataclass(frozen=True)
class Question:
    """One multiple-choice question with one right option and an explanation per option."""

    question: str
    options: tuple[str, ...]
    answer: int
    explanations: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "question") -> Question:
        """Validate and build a question; every mistake raises `QuizError` naming `where`."""
        if not isinstance(data, Mapping):
            raise QuizError(f"{where}: must be an object, got {type(data).__name__}")
        missing = {"question", "options", "answer", "explanations"} - set(data)
        if missing:
            raise QuizError(f"{where}: missing {sorted(missing)}")
        text, options, answer, explanations = (
            data["question"],
            data["options"],
            data["answer"],
            data["explanations"],
        )
        if not isinstance(text, str) or not text.strip():
            raise QuizError(f"{where}: 'question' must be a non-empty string")
        if not isinstance(options, list) or len(options) < 2:
            raise QuizError(f"{where}: 'options' must be a list of at least 2 strings")
        if any(not isinstance(o, str) or not o.strip() for o in options):
            raise QuizError(f"{where}: every option must be a non-empty string")
        if len(set(options)) != len(options):
            raise QuizError(f"{where}: two options have the same text")
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise QuizError(f"{where}: 'answer' must be the index of the right option (an int)")
        if not 0 <= answer < len(options):
            raise QuizError(
                f"{where}: 'answer' is {answer} but the options are numbered 0..{len(options) - 1}"
            )
        if not isinstance(explanations, list) or len(explanations) != len(options):
            raise QuizError(f"{where}: 'explanations' needs exactly one string per option")
        if any(not isinstance(e, str) or not e.strip() for e in explanations):
            raise QuizError(f"{where}: every explanation must be a non-empty string")
        return cls(text.strip(), tuple(options), answer, tuple(explanations))

    def feedback(self, choice: int | None) -> tuple[bool | None, str]:
        """(right?, text) for a choice; (None, hint) when nothing is chosen yet."""
        if choice is None:
            return None, PICK_FIRST
        right = choice == self.answer
        return right, f"{RIGHT if right else WRONG} {self.explanations[choice]}"


def load_questions(source: Any, where: str | None = None) -> tuple[Question, ...]:
    """Questions from a dict `{"questions": [...]}`, a list of question dicts, or a JSON path."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = where or path.name
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise QuizError(f"{where}: not valid JSON ({exc})") from exc
    where = where or "quiz"
    if isinstance(source, Mapping):
        if set(source) != {"questions"}:
            raise QuizError(f"{where}: expected exactly one key, 'questions'")
        source = source["questions"]
    if not isinstance(source, Sequence) or isinstance(source, str):
        raise QuizError(f"{where}: 'questions' must be a list")
    if not MIN_QUESTIONS <= len(source) <= MAX_QUESTIONS:
        raise QuizError(
            f"{where}: a quick check has {MIN_QUESTIONS} to {MAX_QUESTIONS} questions, "
            f"not {len(source)}"
        )
    return tuple(
        Question.from_dict(item, f"{where}: question {number}")
        for number, item in enumerate(source, start=1)
    )


def _search_dirs() -> list[Path]:
    """Where quiz files may be, most specific first (no dependency on the working dir)."""
    dirs: list[Path] = []
    override = os.environ.get(QUIZ_DIR_ENV)
    if override:
        dirs.append(Path(override))
    here = Path.cwd()
    dirs.append(here / "quiz")
    for folder in (here, *here.parents):
        dirs.append(folder / "notebooks" / "quiz")
    # An editable install: src/stream_or_queue/widgets/quiz.py -> the repository root.
    dirs.append(Path(__file__).resolve().parents[3] / "notebooks" / "quiz")
    return dirs


def find_quiz_file(name: str) -> Path:
    """The JSON file of notebook `name` (e.g. "00_welcome"); FileNotFoundError if none."""
    filename = name if name.endswith(".json") else f"{name}.json"
    if Path(filename).name != filename:
        raise QuizError(f"{name!r} is not a notebook name (pass a path to Quiz.from_file)")
    for folder in _search_dirs():
        candidate = folder / filename
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no quiz named {filename!r}: it belongs in notebooks/quiz/ of the course "
        f"(or set {QUIZ_DIR_ENV} to the folder that holds it)"
    )


def _letter(index: int) -> str:
    return chr(ord("a") + index)


class QuestionCard(widgets.VBox):
    """One question: its text, the options as radio buttons, a Check button, feedback."""

    def __init__(self, question: Question, number: int) -> None:
        self.question = question
        self.number = number
        self.result: bool | None = None
        """None until checked with a choice; then whether the last checked choice was right."""
        self.prompt = widgets.HTML(f"<b>{number}. {html.escape(question.question)}</b>")
        self.choices = widgets.RadioButtons(
            options=[(f"{_letter(i)}) {text}", i) for i, text in enumerate(question.options)],
            value=None,
            layout=widgets.Layout(width="auto"),
        )
        self.check = widgets.Button(description="Check", tooltip="Check your answer")
        self.feedback = widgets.HTML("")
        self.check.on_click(self._on_check)
        super().__init__([self.prompt, self.choices, self.check, self.feedback])

    def _on_check(self, _button: widgets.Button | None = None) -> None:
        right, text = self.question.feedback(self.choices.value)
        self.result = right
        colour = {None: "inherit", True: "green", False: "firebrick"}[right]
        self.feedback.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def choose(self, index: int) -> str:
        """Pick option `index` and press Check (what a learner does); returns the feedback text."""
        self.choices.value = index
        self.check.click()
        return self.question.feedback(index)[1]


class Quiz(widgets.VBox):
    """The quick check of a notebook: `Quiz.for_notebook("00_welcome")`."""

    def __init__(self, questions: Any, *, name: str = "", title: str = "Quick check") -> None:
        self.name = name
        self.title = title
        from_file = isinstance(questions, (str, os.PathLike))
        self.questions = load_questions(questions, where=None if from_file else name or None)
        self.cards = tuple(
            QuestionCard(question, number)
            for number, question in enumerate(self.questions, start=1)
        )
        heading = widgets.HTML(f"<h4>{html.escape(title)}</h4>")
        super().__init__([heading, *self.cards])

    @classmethod
    def for_notebook(cls, notebook: str | os.PathLike[str] | Iterable[Any]) -> Quiz:
        """The quiz of a notebook by name ("00_welcome"), a JSON path, or questions as data."""
        if isinstance(notebook, (str, os.PathLike)):
            path = Path(notebook)
            if path.suffix == ".json" and (path.is_file() or len(path.parts) > 1):
                return cls(path, name=path.stem)
            name = Path(str(notebook)).stem
            return cls(find_quiz_file(name), name=name)
        return cls(list(notebook))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Quiz:
        return cls(Path(path), name=Path(path).stem)

    @property
    def score(self) -> int:
        """How many questions are currently checked and right."""
        return sum(card.result is True for card in self.cards)

    def __repr__(self) -> str:
        """The questions as text: what nbval compares and what a static viewer shows."""
        label = f" · {self.name}" if self.name else ""
        lines = [f"{self.title}{label}: {len(self.questions)} questions (run the cell to answer)"]
        for number, question in enumerate(self.questions, start=1):
            lines.append(f"{number}. {question.question}")
            lines.extend(f"   {_letter(i)}) {option}" for i, option in enumerate(question.options))
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # ipywidgets cuts the text form at 110 characters; ours is the readable fallback.
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle
