"""Lab 08's checks tell apart a resumable pipeline from the ways of getting it wrong.

tests/test_labs.py runs the lab and the solution notebooks; this runs the checks
on pipelines written in the ways learners get it half right, and asserts that
each check points at the actual mistake.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from dbos import DBOS

from stream_or_queue.labs import CheckFailed, lab08
from stream_or_queue.labs.lab08 import extract, publish, summarize

pytestmark = pytest.mark.slow


@DBOS.workflow()
def resumable(document: str) -> dict[str, Any]:
    text = DBOS.run_step({"name": "extract"}, extract, document)
    summary = DBOS.run_step({"name": "summarize"}, summarize, text)
    receipt = DBOS.run_step({"name": "publish"}, publish, str(DBOS.workflow_id), summary)
    return {"summary": summary, "receipt": receipt}


@DBOS.workflow()
def untouched(document: str) -> dict[str, Any]:
    raise NotImplementedError()


@DBOS.workflow()
def not_durable(document: str) -> dict[str, Any]:
    summary = summarize(extract(document))
    return {"summary": summary, "receipt": publish(str(DBOS.workflow_id), summary)}


@DBOS.workflow()
def publishes_with_a_new_key(document: str) -> dict[str, Any]:
    text = DBOS.run_step({"name": "extract"}, extract, document)
    summary = DBOS.run_step({"name": "summarize"}, summarize, text)
    key = secrets.token_hex(4)  # a new key on every run: the channel cannot tell
    return {
        "summary": summary,
        "receipt": DBOS.run_step({"name": "publish"}, publish, key, summary),
    }


@pytest.fixture(autouse=True)
def _clean(simulator: Any) -> None:
    """A fresh in-process simulator for each check (each check has its own DBOS record)."""


@pytest.mark.parametrize(
    "check", [lab08.check_finishes, lab08.check_resumes_after_a_crash, lab08.check_publishes_once]
)
def test_the_solution_passes(
    check: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    check(resumable)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "check", [lab08.check_finishes, lab08.check_resumes_after_a_crash, lab08.check_publishes_once]
)
def test_the_untouched_lab_fails_helpfully(check: Callable[..., None]) -> None:
    with pytest.raises(CheckFailed, match="still raises NotImplementedError"):
        check(untouched)


@pytest.mark.parametrize(
    ("check", "advice"),
    [
        (lab08.check_finishes, "DBOS recorded 0 steps"),
        (lab08.check_resumes_after_a_crash, "extract ran 2 times"),
        (lab08.check_publishes_once, "extract and summarize had finished"),
    ],
)
def test_steps_outside_run_are_caught(check: Callable[..., None], advice: str) -> None:
    with pytest.raises(CheckFailed, match=advice):
        check(not_durable)


def test_a_side_effect_without_a_stable_key_is_caught() -> None:
    with pytest.raises(CheckFailed, match="the team got 2 messages"):
        lab08.check_publishes_once(publishes_with_a_new_key)


class _GoodMemo:
    def __init__(self, path: Any) -> None:
        import json
        from pathlib import Path

        self.path = Path(path)
        self.done = json.loads(self.path.read_text()) if self.path.exists() else {}

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        import json

        if name not in self.done:
            self.done[name] = fn(*args)
            self.path.write_text(json.dumps(self.done))
        return self.done[name]


class _ForgetfulMemo(_GoodMemo):
    """Remembers in memory only: a restarted process finds nothing."""

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        if name not in self.done:
            self.done[name] = fn(*args)
        return self.done[name]


class _EagerMemo(_GoodMemo):
    """Marks a step done before its body returns: a kill inside the body lies."""

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        if name not in self.done:
            self.done[name] = None
            self.path.write_text(json.dumps(self.done))
            self.done[name] = fn(*args)
            self.path.write_text(json.dumps(self.done))
        return self.done[name]


class _UnstartedMemo(_GoodMemo):
    def __init__(self, path: Any) -> None:
        raise NotImplementedError()


def test_the_memo_check_passes_step_memoization(capsys: pytest.CaptureFixture[str]) -> None:
    lab08.check_memo(_GoodMemo)
    assert "only the interrupted step ran again" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("memo", "hint"),
    [
        (_ForgetfulMemo, "nothing was written"),
        (_EagerMemo, "claims step 'two' finished"),
        (_UnstartedMemo, "NotImplementedError"),
    ],
)
def test_the_memo_check_points_at_the_mistake(memo: type, hint: str) -> None:
    with pytest.raises(CheckFailed, match=hint):
        lab08.check_memo(memo)
