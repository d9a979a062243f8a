"""The one input the web service takes from people: a question, checked once for every route."""

from __future__ import annotations

import unicodedata

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError, field_validator

from .. import config

__all__ = ["QuestionIn", "clean_question", "question_or_422"]

_KEPT_CONTROLS = frozenset("\n\t")


def clean_question(value: str) -> str:
    """`value` without control characters (NUL and friends; newlines and tabs stay), stripped.

    A question made of NULs, escapes or zero-width characters only is as empty as
    "": the caller gets the same 422, instead of a job that asks the model nothing.
    """
    kept = "".join(
        ch for ch in value if ch in _KEPT_CONTROLS or unicodedata.category(ch) != "Cc"
    ).strip()
    if not any(not ch.isspace() and unicodedata.category(ch)[0] != "C" for ch in kept):
        return ""
    return kept


class QuestionIn(BaseModel):
    """The body of `POST /jobs` and `POST /chat`."""

    question: str

    @field_validator("question")
    @classmethod
    def _check(cls, value: str) -> str:
        text = clean_question(value)
        if not text:
            raise ValueError("the question is empty: write what you want to know")
        if len(text) > config.WEB_QUESTION_MAX_CHARS:
            raise ValueError(
                f"the question is {len(text)} characters long; "
                f"the limit is {config.WEB_QUESTION_MAX_CHARS}"
            )
        return text


def question_or_422(raw: str) -> str:
    """Validate a question that did not come as a JSON body (query string, form)."""
    try:
        return QuestionIn(question=raw).question
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
