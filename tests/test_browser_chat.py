"""Notebook 02 in a real browser: run it, stream into the ChatBox, press Stop.

The suite's JupyterLab (`course_lab`) serves a copy of the notebooks on loopback,
Debian's chromium drives it through playwright. The notebook runs as under nbval;
then the kernel's human clock is set to real time (as a learner gets it), so the
answer a person sends streams at a real model's pace: long enough to watch it grow
and to stop it half-way.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from browser import LabServer, open_and_run_notebook, run_in_kernel, scroll_into_view

from stream_or_queue import config

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "notebooks/02_streaming_chat.ipynb"
QUESTION = "Write a 3,000-word essay on why a Stop button must stop the model."


def transcript_text(page: object) -> str:
    return str(page.locator(".soq-chat .soq-chat-transcript").first.inner_text())  # type: ignore[attr-defined]


def test_chatbox_streams_live_and_stops_in_the_browser(
    course_lab: LabServer, lab_page: Any
) -> None:
    lab, page = course_lab, lab_page
    open_and_run_notebook(page, lab, NOTEBOOK, timeout_s=240)
    real_time = f"import os; os.environ[{config.HUMAN_TIME_SCALE_ENV!r}] = '1.0'"
    run_in_kernel(lab, NOTEBOOK, real_time)

    chat = page.locator(".soq-chat").first
    scroll_into_view(chat)
    # the cells already talked to it: two answers are in the transcript
    assert transcript_text(page).count("Assistant:") == 2
    send = chat.locator("button.soq-chat-send")
    stop = chat.locator("button.soq-chat-stop")
    assert stop.is_disabled() and send.is_enabled()

    chat.locator(".soq-chat-input input").fill(QUESTION)
    send.click()

    # tokens arrive live: the transcript grows many times while Stop is enabled
    stop.wait_for(state="visible")
    page.wait_for_function("el => !el.disabled", arg=stop.element_handle(), timeout=30_000)
    lengths: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(set(lengths)) < 12:
        if stop.is_disabled():
            break
        lengths.append(len(transcript_text(page)))
        time.sleep(0.05)
    growth = sorted(set(lengths))
    assert len(growth) >= 10, f"the transcript did not grow live: {lengths}"
    assert lengths == sorted(lengths)
    assert stop.is_enabled(), "the answer finished before the test could stop it"

    stop.click()
    status = chat.locator(".soq-chat-status")
    status.filter(has_text="Stopped").wait_for(timeout=30_000)
    saved = chat.locator(".soq-saved")
    saved.wait_for(timeout=10_000)
    assert re.search(r"saved [\d,]+ tokens", saved.inner_text())
    assert "simulator's ledger" in chat.locator(".soq-chat-stats").inner_text()
    text = transcript_text(page)
    assert QUESTION in text and "[stopped]" in text
    assert send.is_enabled() and stop.is_disabled()

    # stopped means stopped: nothing more arrives
    settled = len(transcript_text(page))
    time.sleep(1.0)
    assert len(transcript_text(page)) == settled

    # the transcript follows the newest text: scrolled to its end, not its top
    box = chat.locator(".soq-chat-transcript").first
    top, height, client = box.evaluate("el => [el.scrollTop, el.scrollHeight, el.clientHeight]")
    assert height > client, "the transcript should overflow its box by now"
    assert abs(top) < 2, f"not at the newest text: scrollTop {top} (column-reverse: 0 = end)"
