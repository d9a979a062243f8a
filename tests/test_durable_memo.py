"""The teaching mechanism: run from the top, finished steps return their stored result."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stream_or_queue.durable.memo import Memo


def test_a_finished_step_returns_its_stored_result_without_running(tmp_path: Path) -> None:
    calls: list[int] = []

    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    first = Memo(tmp_path / "run.json")
    assert first.step("a", double, 2) == 4
    again = Memo(tmp_path / "run.json")  # a new process reading the same record
    assert again.step("a", double, 99) == 4
    assert again.step("b", double, 3) == 6
    assert calls == [2, 3]
    assert again.ran == ["b"]


def test_an_unstorable_result_fails_the_step_and_keeps_the_record(tmp_path: Path) -> None:
    memo = Memo(tmp_path / "run.json")
    memo.step("a", lambda: [1, 2])
    with pytest.raises(TypeError):
        memo.step("b", lambda: object())
    assert json.loads((tmp_path / "run.json").read_text()) == {"a": [1, 2]}
    assert "b" not in memo.done


def test_a_process_killed_mid_workflow_resumes_without_redoing_finished_steps(
    tmp_path: Path,
) -> None:
    """A real process dies with os._exit inside step 2; the rerun redoes only step 2."""
    script = tmp_path / "wf.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            from stream_or_queue.durable.memo import Memo

            memo = Memo(sys.argv[1])
            def body(name):
                with open(sys.argv[2], "a") as log:
                    log.write(name + "\\n")
                if name == "two" and sys.argv[3] == "crash":
                    os._exit(9)
                return name.upper()
            print([memo.step(n, body, n) for n in ("one", "two", "three")])
            """
        )
    )
    record, log = tmp_path / "run.json", tmp_path / "ran.txt"
    crashed = subprocess.run([sys.executable, script, record, log, "crash"], check=False)
    assert crashed.returncode == 9
    done = subprocess.run(
        [sys.executable, script, record, log, "ok"], check=True, capture_output=True, text=True
    )
    assert done.stdout.strip() == "['ONE', 'TWO', 'THREE']"
    assert log.read_text().split() == ["one", "two", "two", "three"]
