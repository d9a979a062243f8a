"""The course's interactive notebooks in a real JupyterLab: they run, their widgets respond.

The suite's JupyterLab (`course_lab`, shared by every browser test) serves a copy of
`notebooks/`; Debian's chromium opens each notebook whose widget a person drives, runs
all its cells (any error or stderr output fails the test), and then pokes that widget:
the live JobBoard of 05, the DecisionGuide of 10 (02's chat box, its Stop and its live
stream are test_browser_chat.py's; 03's Stop demo and 06's page, at real speed, are
test_browser_lessons.py's). Every notebook's cells also run, from a fresh kernel,
under nbval in `make test`; running the others here again would test the same kernel
code a second time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser import LabServer, open_and_run_notebook, run_in_kernel, scroll_into_view

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))


def watch_the_job_board(page: Any, lab: LabServer, notebook: str) -> None:
    """Restart the board and a worker, enqueue a report, watch its row go to finished."""
    run_in_kernel(
        lab,
        notebook,
        "board.start(); more = jobs.start_workers(1)\nextra = jobs.enqueue_report('browser check')",
    )
    board = page.locator(".soq-jobboard").first
    scroll_into_view(board)
    row = board.locator(".widget-hbox", has_text="browser check")
    row.wait_for(timeout=30_000)
    row.filter(has_text="finished").wait_for(timeout=60_000)
    assert board.locator(".progress-bar").count() >= 1
    run_in_kernel(lab, notebook, "board.stop(); more.stop()")


def answer_the_decision_guide(page: Any, lab: LabServer, notebook: str) -> None:
    """Untick 'is the user waiting' and watch the answer change to a background job."""
    guide = page.locator(".soq-decision").first
    scroll_into_view(guide)
    answer = guide.locator(".soq-decision-answer")
    before = answer.inner_text()
    guide.locator(".soq-decision-items input").fill("1")
    guide.locator(".soq-decision-items input").press("Enter")
    guide.locator(".soq-decision-recurring input").uncheck()
    guide.locator(".soq-decision-waiting input").uncheck()
    expected = re.compile(r"async background job")
    deadline = time.monotonic() + 15
    while not expected.search(answer.inner_text()):
        assert time.monotonic() < deadline, f"the answer did not change: {answer.inner_text()}"
        time.sleep(0.1)
    assert answer.inner_text() != before


WIDGET_CHECKS: dict[str, Callable[[Any, LabServer, str], None]] = {
    "05_background_jobs.ipynb": watch_the_job_board,
    "10_choosing_a_pattern.ipynb": answer_the_decision_guide,
}


def test_the_course_has_its_notebooks() -> None:
    assert len(NOTEBOOKS) >= 11
    assert set(WIDGET_CHECKS) <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(WIDGET_CHECKS))
def test_notebook_runs_in_jupyterlab(course_lab: LabServer, lab_page: Any, name: str) -> None:
    notebook = f"notebooks/{name}"
    open_and_run_notebook(lab_page, course_lab, notebook, timeout_s=300)
    WIDGET_CHECKS[name](lab_page, course_lab, notebook)
