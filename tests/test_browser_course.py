"""The whole course in a real JupyterLab: every notebook runs, the widgets respond.

One JupyterLab serves a copy of `notebooks/` for the module; Debian's chromium
opens each notebook, runs all its cells (any error or stderr output fails the
test), and then pokes the widget that notebook is about: Stop in the chat boxes of
02 and 03, the live JobBoard of 05, the DecisionGuide of 10.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import (
    LabServer,
    chromium_page,
    copy_notebooks,
    jupyter_lab,
    open_and_run_notebook,
    wait_until_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[LabServer]:
    root = copy_notebooks(tmp_path_factory.mktemp("course"), "notebooks", "labs", "solutions")
    with jupyter_lab(root) as server:
        yield server


@pytest.fixture
def page(chromium_path: str) -> Iterator[Any]:
    with chromium_page(chromium_path) as browser_page:
        yield browser_page


def run_extra_cell(page: Any, source: str, timeout_s: float = 60.0) -> None:
    """Append a cell at the end of the open notebook and run it (as a learner would)."""
    page.locator(".jp-Notebook .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.type(source)
    page.keyboard.press("Shift+Enter")
    time.sleep(0.3)
    wait_until_idle(page, timeout_s=timeout_s)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.first.inner_text()


def stop_a_streaming_answer(page: Any) -> None:
    """Slow the kernel's clock, ask for a long answer, press Stop, see it stopped."""
    run_extra_cell(page, "from stream_or_queue import config; config.set_time_scale(0.1)")
    chat = page.locator(".soq-chat").first
    chat.scroll_into_view_if_needed()
    send = chat.locator("button.soq-chat-send")
    stop = chat.locator("button.soq-chat-stop")
    chat.locator(".soq-chat-input input").fill("Write a 3,000-word essay on stopping models.")
    send.click()
    page.wait_for_function("el => !el.disabled", arg=stop.element_handle(), timeout=30_000)
    stop.click()
    chat.locator(".soq-chat-status").filter(has_text="Stopped").wait_for(timeout=30_000)
    assert "[stopped]" in chat.locator(".soq-chat-transcript").inner_text()
    assert stop.is_disabled() and send.is_enabled()


def watch_the_job_board(page: Any) -> None:
    """Restart the board and a worker, enqueue a report, watch its row go to finished."""
    run_extra_cell(
        page,
        "board.start(); more = jobs.start_workers(1)\n"
        "extra = jobs.enqueue_report('browser check')",
    )
    board = page.locator(".soq-jobboard").first
    board.scroll_into_view_if_needed()
    row = board.locator(".widget-hbox", has_text="browser check")
    row.wait_for(timeout=30_000)
    row.filter(has_text="finished").wait_for(timeout=60_000)
    assert board.locator(".progress-bar").count() >= 1
    run_extra_cell(page, "board.stop(); more.stop()")


def answer_the_decision_guide(page: Any) -> None:
    """Untick 'is the user waiting' and watch the answer change to a background job."""
    guide = page.locator(".soq-decision").first
    guide.scroll_into_view_if_needed()
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


WIDGET_CHECKS: dict[str, Callable[[Any], None]] = {
    "02_streaming_chat.ipynb": stop_a_streaming_answer,
    "03_cancellation_and_conversation.ipynb": stop_a_streaming_answer,
    "05_background_jobs.ipynb": watch_the_job_board,
    "10_choosing_a_pattern.ipynb": answer_the_decision_guide,
}


def test_the_course_has_its_notebooks() -> None:
    assert len(NOTEBOOKS) >= 11
    assert set(WIDGET_CHECKS) <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(lab: LabServer, page: Any, name: str) -> None:
    open_and_run_notebook(page, lab, f"notebooks/{name}", timeout_s=300)
    check = WIDGET_CHECKS.get(name)
    if check is not None:
        check(page)
