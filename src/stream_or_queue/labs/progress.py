"""Progressive help for lab checks, and the table of which checks pass.

A failed check should teach, not hand over the answer. So the help comes in steps:

1. the first failure says what is wrong: the behaviour observed against the behaviour
   expected, and why that matters (the check's own `CheckFailed` message);
2. a second failure of the same check adds a *hint*: where to look, not what to write;
3. the formula or the code only on request: `labNN.hint("name")`.

`labNN.report()`, the last cell of every lab, prints which checks pass. A lab module
wraps its checks with `LabProgress.check`; the failure stays a `CheckFailed` (only its
message grows), so notebooks and tests treat it as before.
"""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from . import CheckFailed

__all__ = ["Help", "LabProgress"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Help:
    """What a learner may ask for about one check."""

    hint: str
    """A nudge shown after the second failure: where to look, not the answer."""
    answer: str
    """The formula or the code, shown only by `labNN.hint(name)`."""


class LabProgress:
    """The checks of one lab: their help, and what happened when the learner ran them."""

    def __init__(self, lab: str, help: Mapping[str, Help]) -> None:
        self.lab = lab
        self.help = dict(help)
        self.order: list[str] = []
        self.failures: Counter[str] = Counter()
        self.results: dict[str, bool] = {}
        self.unwrapped: dict[str, Callable[..., Any]] = {}

    def check(self, function: F) -> F:
        """Wrap `check_<name>`: record the result, and add help to repeated failures."""
        name = function.__name__.removeprefix("check_")
        if name not in self.help:
            raise ValueError(f"{self.lab}: check {name!r} has no Help entry")
        self.order.append(name)
        self.unwrapped[name] = function

        if inspect.iscoroutinefunction(function):  # an async check: `await labNN.check_x(...)`

            @functools.wraps(function)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    result = await function(*args, **kwargs)
                except CheckFailed as failure:
                    raise self._failed(name, failure) from None
                self.results[name] = True
                return result

            return awrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = function(*args, **kwargs)
            except CheckFailed as failure:
                raise self._failed(name, failure) from None
            self.results[name] = True
            return result

        return wrapper  # type: ignore[return-value]

    def _failed(self, name: str, failure: CheckFailed) -> CheckFailed:
        self.failures[name] += 1
        self.results[name] = False
        return CheckFailed(self._advice(name, str(failure)))

    def _advice(self, name: str, message: str) -> str:
        if self.failures[name] < 2:
            return f"{message}\n(Change your code and check again; a second failure adds a hint.)"
        return (
            f"{message}\nHint: {self.help[name].hint}\n"
            f"Still stuck? `{self.lab}.hint({name!r})` shows the answer."
        )

    def demonstrate(self, name: str, *args: Any) -> None:
        """Run check `name` on a given (naive) version and print what it says.

        Not counted as the learner's try, and never raises: the cell that shows why the
        naive version fails runs cleanly.
        """
        try:
            self.unwrapped[name](*args)
        except CheckFailed as failure:
            print(f"check_{name} fails it: {failure}")
        else:
            print(f"check_{name} passes it.")

    def hint(self, name: str) -> None:
        """Print the answer for check `name` (what the second failure held back)."""
        if name not in self.help:
            known = ", ".join(repr(n) for n in self.order)
            raise ValueError(f"{self.lab} has no check named {name!r}; its checks: {known}")
        print(f"{self.lab} · {name}:\n{self.help[name].answer}")

    def report(self) -> None:
        """Print which checks pass: the self-check table at the end of the lab."""
        width = max((len(name) for name in self.order), default=5)
        print(f"{'check':<{width}}  result")
        for name in self.order:
            if name not in self.results:
                state = "not run yet"
            elif self.results[name]:
                state = "\N{CHECK MARK} passes"
            else:
                tries = self.failures[name]
                state = f"\N{BALLOT X} fails ({tries} {'try' if tries == 1 else 'tries'})"
            print(f"{name:<{width}}  {state}")
        passing = sum(self.results.get(name, False) for name in self.order)
        print(f"{passing} of {len(self.order)} checks pass")
