"""Lab checks: behaviour tests a learner runs from a lab notebook.

Each lab has a module here (`stream_or_queue.labs.lab05`, ...) whose check
functions call the learner's code, and either print what passed or raise
`CheckFailed` with a message saying what is wrong and how to fix it. Checks test
behaviour, never source text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["CheckFailed", "call_learner", "expect", "passed"]

T = TypeVar("T")


class CheckFailed(AssertionError):
    """A lab check did not pass; the message explains what to change."""


def expect(condition: object, message: str) -> None:
    """Fail the check with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)


def passed(message: str) -> None:
    print(f"\N{CHECK MARK} {message}")


def call_learner(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the learner's function, turning 'not done yet' into a helpful failure."""
    name = getattr(function, "__name__", "your function")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(
            f"`{name}` still raises NotImplementedError: replace the lines "
            "`# YOUR CODE HERE` / `raise NotImplementedError()` with your solution."
        ) from None
