"""The course's interactive notebooks in a real JupyterLab: they run, their widgets respond.

One JupyterLab serves a copy of `notebooks/` for the module; Debian's chromium
opens each notebook whose widget a person drives, runs all its cells (any error or
stderr output fails the test), and then pokes that widget: Stop in the chat boxes of
02 and 03, the live JobBoard of 05, the DecisionGuide of 10. Every notebook's cells
also run, from a fresh kernel, under nbval in `make test`; running the others here
again would test the same kernel code a second time.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
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
def page(chromium_path: str, lab: LabServer) -> Iterator[Any]:
    with chromium_page(chromium_path) as browser_page:
        yield browser_page
    shut_down_kernels(lab)  # one notebook's kernel (and its worker threads) at a time


def shut_down_kernels(lab: LabServer) -> None:
    headers = {"Authorization": f"token {lab.token}"}
    with urllib.request.urlopen(
        urllib.request.Request(f"{lab.url}/api/kernels", headers=headers), timeout=10
    ) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(
            f"{lab.url}/api/kernels/{kernel['id']}", method="DELETE", headers=headers
        )
        urllib.request.urlopen(request, timeout=30).close()


def run_in_kernel(lab: LabServer, notebook: str, source: str, timeout_s: float = 60.0) -> None:
    """Run `source` in the kernel of the open notebook, as a second client.

    Widget updates it causes travel on the kernel's broadcast channel, so the page
    shows them exactly as if a cell had run them; typing a new cell instead would
    depend on where the keyboard focus happens to be.
    """
    from jupyter_client import BlockingKernelClient

    headers = {"Authorization": f"token {lab.token}"}
    with urllib.request.urlopen(
        urllib.request.Request(f"{lab.url}/api/sessions", headers=headers), timeout=10
    ) as response:
        sessions = json.load(response)
    kernel_id = next(s["kernel"]["id"] for s in sessions if s["path"] == notebook)
    connection = lab.root / ".jupyter-private" / "runtime" / f"kernel-{kernel_id}.json"
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=30)
        reply = client.execute_interactive(source, timeout=timeout_s, output_hook=lambda _m: None)
    finally:
        client.stop_channels()
    content = reply["content"]
    assert content["status"] == "ok", f"{content.get('ename')}: {content.get('evalue')}"


def stop_a_streaming_answer(page: Any, lab: LabServer, notebook: str) -> None:
    """Slow the kernel's clock, ask for a long answer, press Stop, see it stopped."""
    run_in_kernel(lab, notebook, "from stream_or_queue import config; config.set_time_scale(0.1)")
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


def watch_the_job_board(page: Any, lab: LabServer, notebook: str) -> None:
    """Restart the board and a worker, enqueue a report, watch its row go to finished."""
    run_in_kernel(
        lab,
        notebook,
        "board.start(); more = jobs.start_workers(1)\nextra = jobs.enqueue_report('browser check')",
    )
    board = page.locator(".soq-jobboard").first
    board.scroll_into_view_if_needed()
    row = board.locator(".widget-hbox", has_text="browser check")
    row.wait_for(timeout=30_000)
    row.filter(has_text="finished").wait_for(timeout=60_000)
    assert board.locator(".progress-bar").count() >= 1
    run_in_kernel(lab, notebook, "board.stop(); more.stop()")


def answer_the_decision_guide(page: Any, lab: LabServer, notebook: str) -> None:
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


WIDGET_CHECKS: dict[str, Callable[[Any, LabServer, str], None]] = {
    "02_streaming_chat.ipynb": stop_a_streaming_answer,
    "03_cancellation_and_conversation.ipynb": stop_a_streaming_answer,
    "05_background_jobs.ipynb": watch_the_job_board,
    "10_choosing_a_pattern.ipynb": answer_the_decision_guide,
}


def test_the_course_has_its_notebooks() -> None:
    assert len(NOTEBOOKS) >= 11
    assert set(WIDGET_CHECKS) <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(WIDGET_CHECKS))
def test_notebook_runs_in_jupyterlab(lab: LabServer, page: Any, name: str) -> None:
    notebook = f"notebooks/{name}"
    open_and_run_notebook(page, lab, notebook, timeout_s=300)
    WIDGET_CHECKS[name](page, lab, notebook)
