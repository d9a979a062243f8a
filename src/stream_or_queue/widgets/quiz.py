"""The *Quick check* at the end of every notebook: a few questions that explain themselves.

A learner picks an option and presses *Check*; the widget says whether the choice is
right and why. The questions are data shipped with the package
(`stream_or_queue/data/quiz/NN_slug.json`), so an installed course finds them and a
test can check all of them:

    {"questions": [{"id": "ttft", "question": "...", "predicts": "0.95",
                    "options": [{"text": "...", "why": "...", "right": true},
                                {"text": "...", "why": "..."}]}]}

Each option carries its own explanation (`why`), so the options can be shown in any
order and the explanation still follows its option. The order is shuffled per question
and per learner: seeded by the learner (`STREAM_OR_QUEUE_LEARNER`, a fixed default so
that nbval sees the same order on every run), the quiz and the question's `id`, so
nobody can learn "the answer is always b". `predicts` marks a question that asks for a
figure the notebook measures; the tests check that the figure is in its outputs.

Without a front end (nbval, tests), the widget still works:
`card.choose(1)` picks the second option *as displayed* and presses Check; read
`card.feedback.value`. Its text form lists the questions in their displayed order.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import ipywidgets as widgets
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from .. import config

__all__ = [
    "DEFAULT_LEARNER",
    "LEARNER_ENV",
    "MAX_QUESTIONS",
    "MIN_QUESTIONS",
    "Option",
    "Question",
    "QuestionCard",
    "Quiz",
    "QuizError",
    "QuizFile",
    "display_order",
    "learner",
    "load_questions",
    "quiz_names",
    "quiz_text",
]

MIN_QUESTIONS = 2
MAX_QUESTIONS = 4
"""A quick check is short: two to four questions."""

LEARNER_ENV = "STREAM_OR_QUEUE_LEARNER"
"""Any text (a name, a seat number): each learner sees the options in an order of their own."""

DEFAULT_LEARNER = "course"
"""The order nbval and the committed notebooks show."""

_ASKED: dict[tuple[str, str], QuestionCard] = {}
"""(quiz name, question id) -> the card last shown for it in this kernel (predict first)."""

RIGHT = "\N{HEAVY CHECK MARK} Right."
WRONG = "\N{HEAVY BALLOT X} Not quite."
PICK_FIRST = "Pick an answer first, then press Check."

# The widget says right or wrong itself; an explanation that says it too reads "Right. Right:".
_VERDICT = re.compile(r"^\s*(right|wrong|correct|incorrect|not quite)\b", re.IGNORECASE)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class QuizError(ValueError):
    """A quiz file that does not follow the format; the message says where and why."""


class Option(BaseModel):
    """One answer a learner can pick, with the explanation shown when they do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: Text
    why: Text
    right: StrictBool = False

    @field_validator("why")
    @classmethod
    def _no_verdict(cls, why: str) -> str:
        if _VERDICT.match(why):
            raise ValueError(
                "starts with a verdict; the widget already says right or wrong, "
                "so start with the reason"
            )
        return why


class Question(BaseModel):
    """One multiple-choice question with exactly one right option."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")]
    question: Text
    options: tuple[Option, ...] = Field(min_length=2, max_length=5)
    predicts: Text | None = None
    """A figure the notebook measures; the right option must state it."""

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        rights = sum(option.right for option in self.options)
        if rights != 1:
            raise ValueError(f'exactly one option must have "right": true, not {rights}')
        texts = [option.text for option in self.options]
        if len(set(texts)) != len(texts):
            raise ValueError("two options have the same text")
        if self.predicts is not None and self.predicts not in self.options[self.answer].text:
            raise ValueError(f"the right option must state the predicted figure {self.predicts!r}")
        return self

    @property
    def answer(self) -> int:
        """Index of the right option, in the file's order."""
        return next(i for i, option in enumerate(self.options) if option.right)

    def feedback(self, choice: int | None) -> tuple[bool | None, str]:
        """(right?, text) for option `choice` (file order); (None, hint) when nothing is chosen."""
        if choice is None:
            return None, PICK_FIRST
        option = self.options[choice]
        return option.right, f"{RIGHT if option.right else WRONG} {option.why}"


class QuizFile(BaseModel):
    """The whole file: two to four questions with distinct ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    questions: tuple[Question, ...] = Field(min_length=MIN_QUESTIONS, max_length=MAX_QUESTIONS)

    @field_validator("questions")
    @classmethod
    def _distinct_ids(cls, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two questions share an id: {sorted(ids)}")
        return questions


def _where(loc: Sequence[int | str]) -> str:
    """pydantic's error location as a reader would say it: 'question 2 › options › 1 › why'."""
    parts: list[str] = []
    items = list(loc)
    if items[:1] == ["questions"] and len(items) > 1 and isinstance(items[1], int):
        parts.append(f"question {items[1] + 1}")
        items = items[2:]
    parts.extend(str(item) for item in items)
    return " › ".join(parts)


def _explain(error: ValidationError, where: str) -> QuizError:
    lines = []
    for problem in error.errors():
        place = _where(problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {place}: {message}" if place else f"{where}: {message}")
    return QuizError("\n".join(lines))


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
    if not isinstance(source, dict):
        source = {"questions": source}
    try:
        return QuizFile.model_validate(source).questions
    except ValidationError as exc:
        raise _explain(exc, where) from None


def _quiz_dir() -> Any:
    return resources.files("stream_or_queue") / "data" / "quiz"


def quiz_names() -> list[str]:
    """Every quiz shipped with the package ("00_welcome", ...)."""
    return sorted(
        entry.name.removesuffix(".json")
        for entry in _quiz_dir().iterdir()
        if entry.name.endswith(".json")
    )


def quiz_text(name: str) -> str:
    """The JSON text of the quiz of notebook `name`; FileNotFoundError names the known ones."""
    filename = name if name.endswith(".json") else f"{name}.json"
    if Path(filename).name != filename:
        raise QuizError(f"{name!r} is not a notebook name (pass a path to Quiz.from_file)")
    entry = _quiz_dir() / filename
    if not entry.is_file():
        raise FileNotFoundError(
            f"no quiz named {filename!r}: the quizzes are {', '.join(quiz_names())} "
            "(stream_or_queue/data/quiz/)"
        )
    return str(entry.read_text(encoding="utf-8"))


def learner() -> str:
    """Who is answering: `STREAM_OR_QUEUE_LEARNER`, or the fixed default."""
    return (config.env(LEARNER_ENV) or "").strip() or DEFAULT_LEARNER


def display_order(question: Question, *, seed: str) -> tuple[int, ...]:
    """The options' indices in the order shown: a shuffle that depends only on `seed` and the id.

    A hash, not `random.seed(str)` on its own, so the order is the same in every Python
    process (string hashing is salted per process).
    """
    digest = hashlib.sha256(f"{seed}\x1f{question.id}".encode()).digest()
    order = list(range(len(question.options)))
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return tuple(order)


def _letter(index: int) -> str:
    return chr(ord("a") + index)


class QuestionCard(widgets.VBox):
    """One question: its text, the options as radio buttons (shuffled), a Check button, feedback."""

    def __init__(self, question: Question, number: int, order: Sequence[int] | None = None) -> None:
        self.question = question
        self.number = number
        self.order = tuple(order) if order is not None else tuple(range(len(question.options)))
        if sorted(self.order) != list(range(len(question.options))):
            raise ValueError(f"order {self.order} is not a permutation of the options")
        self.result: bool | None = None
        """None until checked with a choice; then whether the last checked choice was right."""
        self.prompt = widgets.HTML(f"<b>{number}. {html.escape(question.question)}</b>")
        self.choices = widgets.RadioButtons(
            options=[
                (f"{_letter(shown)}) {question.options[index].text}", shown)
                for shown, index in enumerate(self.order)
            ],
            value=None,
            layout=widgets.Layout(width="auto"),
        )
        self.check = widgets.Button(description="Check", tooltip="Check your answer")
        self.feedback = widgets.HTML("")
        self.check.on_click(self._on_check)
        super().__init__([self.prompt, self.choices, self.check, self.feedback])

    @property
    def right_position(self) -> int:
        """Where the right option is shown (0 for a, 1 for b, ...)."""
        return self.order.index(self.question.answer)

    def _feedback(self, shown: int | None) -> tuple[bool | None, str]:
        return self.question.feedback(None if shown is None else self.order[shown])

    def _on_check(self, _button: widgets.Button | None = None) -> None:
        right, text = self._feedback(self.choices.value)
        self.result = right
        colour = {None: "inherit", True: "green", False: "firebrick"}[right]
        self.feedback.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def choose(self, shown: int) -> str:
        """Pick the option shown at `shown` (0 is a) and press Check; returns the feedback text."""
        self.choices.value = shown
        self.check.click()
        return self._feedback(shown)[1]

    def lines(self) -> list[str]:
        """The question and its options as displayed, as text."""
        return [
            f"{self.number}. {self.question.question}",
            *(
                f"   {_letter(shown)}) {self.question.options[index].text}"
                for shown, index in enumerate(self.order)
            ),
        ]


class Quiz(widgets.VBox):
    """The quick check of a notebook: `Quiz.for_notebook("00_welcome")`."""

    def __init__(
        self,
        questions: Any,
        *,
        name: str = "",
        title: str = "Quick check",
        learner_seed: str | None = None,
        only: Iterable[str] | None = None,
    ) -> None:
        self.name = name
        self.title = title
        self.learner = learner_seed if learner_seed is not None else learner()
        from_file = isinstance(questions, (str, os.PathLike))
        loaded = load_questions(questions, where=None if from_file else name or None)
        if only is not None:
            wanted = list(only)
            unknown = set(wanted) - {q.id for q in loaded}
            if unknown:
                raise QuizError(
                    f"{name or 'quiz'}: no question with id {sorted(unknown)}; "
                    f"the ids are {[q.id for q in loaded]}"
                )
            loaded = tuple(q for q in loaded if q.id in wanted)
        self.questions = loaded
        seed = f"{self.learner}\x1f{name}"
        self.cards = tuple(
            QuestionCard(question, number, display_order(question, seed=seed))
            for number, question in enumerate(self.questions, start=1)
        )
        for card in self.cards:
            _ASKED[(name, card.question.id)] = card  # for `compare`, after the measurement
        heading = widgets.HTML(f"<h4>{html.escape(title)}</h4>")
        super().__init__([heading, *self.cards])

    @classmethod
    def for_notebook(
        cls,
        notebook: str | os.PathLike[str] | Iterable[Any],
        *,
        only: Iterable[str] | None = None,
        learner_seed: str | None = None,
    ) -> Quiz:
        """The quiz of a notebook by name ("00_welcome"), a JSON path, or questions as data.

        `only` picks questions by id, e.g. one prediction to ask before a measurement.
        """
        options: dict[str, Any] = {"only": only, "learner_seed": learner_seed}
        if isinstance(notebook, (str, os.PathLike)):
            path = Path(notebook)
            if path.suffix == ".json" and (path.is_file() or len(path.parts) > 1):
                return cls(path, name=path.stem, **options)
            name = Path(str(notebook)).stem
            data = json.loads(quiz_text(name))
            return cls(data, name=name, **options)
        return cls(list(notebook), **options)

    @classmethod
    def compare(cls, notebook: str, question_id: str, measured: str) -> None:
        """Predict first: after the measurement, print it beside the prediction asked above.

        The question was shown before the measurement (`for_notebook(..., only=[id])`); the
        learner's pick, if any, is read from that widget. Nothing picked (nbval, a reader who
        skipped it) prints the same deterministic lines every run.
        """
        print(f"measured: {measured}")
        card = _ASKED.get((notebook, question_id))
        if card is None:
            print("your prediction: the prediction cell above has not run in this kernel")
            return
        question = card.question
        matching = question.options[question.answer].text
        shown = card.choices.value
        if shown is None:
            print(
                f"your prediction: none picked above; the option the measurement matches: "
                f"{matching}"
            )
            return
        chosen = card.order[shown]
        verdict = (
            "right"
            if chosen == question.answer
            else f"not quite - the measurement matches: {matching}"
        )
        print(f"your prediction: {question.options[chosen].text} ({verdict})")

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
        count = len(self.questions)
        noun = "question" if count == 1 else "questions"
        lines = [f"{self.title}{label}: {count} {noun} (run the cell to answer)"]
        for card in self.cards:
            lines.extend(card.lines())
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # ipywidgets cuts the text form at 110 characters; ours is the readable fallback.
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle
