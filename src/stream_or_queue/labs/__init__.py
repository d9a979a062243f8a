"""Lab checks: behaviour tests a learner runs from a lab notebook.

Each lab has a module here (`stream_or_queue.labs.lab05`, ...) whose check
functions call the learner's code, and either print what passed or raise
`CheckFailed` with a message saying what is wrong and how to fix it. Checks test
behaviour, never source text.

In a lab notebook, a *check cell* is a code cell that calls `labNN.check_...(...)`
(`CHECK_CELL_PATTERN`; or a cell tagged `check`). tests/test_labs.py runs every lab
as generated and requires each check cell to fail with `CheckFailed` - so no check
passes vacuously - and runs every solution and requires them all to pass. Keep the
`passed(...)` messages free of measured figures: solutions are compared by nbval.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["CHECK_CELL_PATTERN", "CheckFailed", "call_learner", "expect", "is_check_cell", "passed"]

CHECK_CELL_PATTERN = re.compile(r"\blab\w*\.check_\w+\s*\(")
"""How a check cell is recognised: it calls a `check_*` function of a lab module."""

T = TypeVar("T")


class CheckFailed(AssertionError):
    """A lab check did not pass; the message explains what to change.

    In a notebook it reads as one clear message: IPython shows what
    `_render_traceback_` returns instead of a traceback full of the checker's
    frames (which say nothing about the learner's code). pytest and plain Python
    still see an ordinary AssertionError with its traceback.
    """

    def _render_traceback_(self) -> list[str]:
        red, bold, reset = "\x1b[31m", "\x1b[1m", "\x1b[0m"
        return [f"{red}{bold}✘ Not yet:{reset} {self}"]


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


def is_check_cell(source: str, tags: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether a lab cell with this source (and these tags) is a check cell."""
    return "check" in tags or bool(CHECK_CELL_PATTERN.search(source))
