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

import re
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from stream_or_queue.labs import CheckFailed

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
CHECK_CALL = re.compile(r"\blab\w*\.check_\w+\s*\(")
OFFLINE_ENV_CLEARED = (
    "STREAM_OR_QUEUE_MODE",
    "REDIS_URL",
    "ANTHROPIC_BASE_URL",
    "STREAM_OR_QUEUE_TIME_SCALE",
)
MIN_MESSAGE = 40
"""A helpful message says what is wrong and what to do: more than a few words."""

pytestmark = pytest.mark.slow


def is_check_cell(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and (
        "check" in cell.get("metadata", {}).get("tags", []) or bool(CHECK_CALL.search(cell.source))
    )


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
            for error in errors:
                assert error.ename == "NotImplementedError", (
                    f"{where}: only check cells (and calls of unfinished functions) may fail "
                    f"in a lab; this one raised {error.ename}: {error.evalue}"
                )


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
