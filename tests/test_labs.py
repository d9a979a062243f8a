"""Every lab fails its checks as shipped, helpfully; every solution passes them.

Discovers every `solutions/*.ipynb`, so each new lab is covered without editing this
file. A *check cell* is a code cell that calls `labNN.check_*(...)` (or is tagged
`check`). In the lab as generated (answers stubbed out), each check cell must stop
with `CheckFailed` and a message a learner can act on - not a NameError, ImportError
or a bare NotImplementedError - so that no check passes vacuously. Other lab cells
may stop only with NotImplementedError (a "try it" cell calling an unfinished
function). In the solution, every cell runs without error and every check passes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from stream_or_queue import clock, config
from stream_or_queue.labs import CheckFailed, call_learner, expect, lab00
from stream_or_queue.labs import is_check_cell as is_check_source

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
OFFLINE_ENV_CLEARED = (
    "STREAM_OR_QUEUE_MODE",
    "REDIS_URL",
    "ANTHROPIC_BASE_URL",
    "STREAM_OR_QUEUE_TIME_SCALE",
)
MIN_MESSAGE = 40
"""A helpful message says what is wrong and what to do: more than a few words."""


def is_check_cell(cell: NotebookNode) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return cell.cell_type == "code" and is_check_source(cell.source, tags)


def _errors(cell: NotebookNode) -> list[NotebookNode]:
    return [out for out in cell.get("outputs", []) if out.output_type == "error"]


def _run(path: Path, monkeypatch: pytest.MonkeyPatch) -> NotebookNode:
    """Execute a notebook from a fresh kernel in its folder, offline, keeping errors."""
    from nbclient import NotebookClient

    for name in OFFLINE_ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
    ).execute()
    return nb


def _where(path: Path, index: int) -> str:
    return f"{path.relative_to(ROOT)} cell {index}"


def test_there_are_solutions() -> None:
    assert SOLUTIONS, "solutions/ holds no notebook"


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_lab_as_shipped_fails_every_check_helpfully(
    solution: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = ROOT / "labs" / solution.name
    assert lab.is_file(), f"{lab.name} is missing: run .venv/bin/python scripts/build_course.py"
    nb = _run(lab, monkeypatch)
    checks = [i for i, cell in enumerate(nb.cells) if is_check_cell(cell)]
    assert checks, f"{lab.name} has no check cell (a code cell calling labNN.check_...())"
    for index, cell in enumerate(nb.cells):
        errors = _errors(cell)
        where = _where(lab, index)
        if index in checks:
            assert errors, f"{where}: the check PASSED on the unsolved lab (vacuous check)"
            error = errors[0]
            assert error.ename == CheckFailed.__name__, (
                f"{where}: the check should fail with CheckFailed, got "
                f"{error.ename}: {error.evalue}"
            )
            assert len(error.evalue) >= MIN_MESSAGE, f"{where}: unhelpful message {error.evalue!r}"
        else:
            for error in errors:  # call_learner's CheckFailed is advice on unfinished work too
                assert error.ename in ("NotImplementedError", CheckFailed.__name__), (
                    f"{where}: only check cells (and calls of unfinished functions) may fail "
                    f"in a lab; this one raised {error.ename}: {error.evalue}. A 'try it' cell "
                    "should call the learner's function itself, not reuse a variable that an "
                    "earlier, unfinished cell never set"
                )


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_passes_every_check(solution: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _run(solution, monkeypatch)
    checks = 0
    for index, cell in enumerate(nb.cells):
        errors = _errors(cell)
        assert not errors, (
            f"{_where(solution, index)}: {errors[0].ename}: {errors[0].evalue}" if errors else ""
        )
        checks += is_check_cell(cell)
    assert checks, f"{solution.name} has no check cell"


# --- the framework itself, and lab 00's checks, in-process -------------------------------


def test_check_cells_are_recognised() -> None:
    assert is_check_source("lab00.check_measure_ttft(measure_ttft)")
    assert is_check_source("x = 1", ["check"])
    assert not is_check_source("from stream_or_queue.labs import lab00")
    assert not is_check_source("def check_me(): pass")


def test_call_learner_turns_unfinished_work_into_advice() -> None:
    def unfinished() -> None:
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="`unfinished` still raises NotImplementedError"):
        call_learner(unfinished)
    with pytest.raises(ZeroDivisionError):  # a real bug in the learner's code stays visible
        call_learner(lambda: 1 / 0)
    assert call_learner(lambda x: x + 1, 1) == 2
    with pytest.raises(CheckFailed, match="why"):
        expect(False, "why")
    expect(True, "never shown")


def _measure(
    client: Any, prompt: str, *, create: bool = False, late: bool = False, real: bool = False
) -> Any:
    watch, started, first, pieces = clock.Stopwatch(), time.perf_counter(), None, []
    request = {
        "model": config.LARGE_MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": prompt}],
    }
    if create:
        reply = client.messages.create(**request)
        return (watch.elapsed, watch.elapsed, reply.content[0].text)
    with client.messages.stream(**request) as stream:
        for text in stream.text_stream:
            if first is None and not late:
                first = time.perf_counter() - started if real else watch.elapsed
            pieces.append(text)
    if real:
        return (first, time.perf_counter() - started, "".join(pieces))
    return lab00.StreamTiming(
        first if first is not None else watch.elapsed, watch.elapsed, "".join(pieces)
    )


def test_lab00_accepts_a_correct_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    lab00.check_measure_ttft(_measure)
    lab00.check_tokens_per_second(lambda n, a, b: n / (b - a) if b > a else 0.0)
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 2


@pytest.mark.parametrize(
    ("options", "advice"),
    [
        ({"create": True}, "not streamed"),
        ({"late": True}, "FIRST piece of text"),
        ({"real": True}, "simulated seconds"),
    ],
)
def test_lab00_explains_each_mistake(options: dict[str, bool], advice: str) -> None:
    with pytest.raises(CheckFailed, match=advice):
        lab00.check_measure_ttft(lambda client, prompt: _measure(client, prompt, **options))


def test_lab00_wants_the_whole_text_and_a_tuple() -> None:
    def short(client: Any, prompt: str) -> Any:
        timing = _measure(client, prompt)
        return timing._replace(text=timing.text[:20])

    with pytest.raises(CheckFailed, match="not the whole answer"):
        lab00.check_measure_ttft(short)
    with pytest.raises(CheckFailed, match="should return three things"):
        lab00.check_measure_ttft(lambda client, prompt: 1.0)


def test_lab00_rate_must_not_divide_by_the_total() -> None:
    with pytest.raises(CheckFailed, match="total_s - ttft_s"):
        lab00.check_tokens_per_second(lambda n, a, b: n / b)
    with pytest.raises(CheckFailed, match="dividing by zero"):
        lab00.check_tokens_per_second(lambda n, a, b: n / (b - a) if b > a else 1.0)


def test_a_failed_check_reads_as_one_message_in_ipython() -> None:
    """What a learner sees in a notebook: the advice, not the checker's frames and paths."""
    import subprocess
    import sys

    code = (
        "from stream_or_queue.labs import expect\nexpect(False, 'Return the stream, not a list.')"
    )
    shown = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = shown.stdout + shown.stderr
    assert "Not yet:" in output and "Return the stream, not a list." in output
    assert "Traceback" not in output and "site-packages" not in output and "File " not in output
