"""Step memoization, the mechanism inside every durable-execution engine, in one screen.

A workflow is ordinary code that calls named steps. After each step finishes, its
result is written down; when the workflow runs again (after a crash, a deploy, a
retry) it runs from the top, and a step that already finished returns its stored
result instead of running. So finished work is never redone and the code needs no
"where was I?" logic. A step interrupted inside its body has no stored result and
runs again: steps are at-least-once, so make them idempotent.

DBOS, Temporal, Inngest and Trigger.dev all work this way; DBOS keeps the record in
SQLite or Postgres, this sketch in one JSON file (replaced atomically, so a crash
mid-write leaves the old record, never half of one).

    memo = Memo("run-42.json")
    plan = memo.step("plan", make_plan, question)
    notes = [memo.step(f"read-{i}", read, doc) for i, doc in enumerate(plan)]
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Memo"]


class Memo:
    """A workflow's record of finished steps, stored in `path` (JSON)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.done: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.ran: list[str] = []  # steps whose body ran in this process (for the lesson)

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Return `name`'s stored result, or run `fn(*args)` and store what it returns."""
        if name in self.done:
            return self.done[name]
        result = fn(*args)
        record = json.dumps({**self.done, name: result})  # unstorable? fail before keeping it
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(record)
        os.replace(tmp, self.path)  # atomic: the old record or the new one, never half
        self.done[name] = result
        self.ran.append(name)
        return result
