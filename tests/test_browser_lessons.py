"""What a learner does by hand after Run All, in a real browser, at real speed.

- 03: the Stop demo's chat box: send a long question, watch the answer grow, press
  Stop half-way; the answer stops growing and the tokens-saved line appears.
- 06: the course's page, opened from the link the notebook shows: a person asks a
  question there and watches the job's progress move step by step.

Both run in the suite's JupyterLab (`course_lab`, a copy of the notebooks on loopback).
Run All plays at the suite's clocks, as under nbval (whose run of every cell is the
proof that the cells work); then the kernel's human clock is set to real time, as a
learner gets it, so what the person does next happens at real speed. (Playing every
cell's demo at real time, in a JupyterLab of its own, took 68 s for 06 and proved
nothing more than nbval and the real-speed part below.)
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from browser import LabServer, open_and_run_notebook, run_in_kernel, scroll_into_view

from stream_or_queue import config

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ESSAY = "Write a 3,000-word essay on why a Stop button must close the stream."
QUESTION = "Why should a research agent run as a background job?"


def _run_all_then_real_time(page: Any, lab: LabServer, notebook: str) -> None:
    """Run All at the suite's clocks, then put the kernel's human clock at real time."""
    open_and_run_notebook(page, lab, notebook)
    run_in_kernel(lab, notebook, f"import os; os.environ[{config.HUMAN_TIME_SCALE_ENV!r}] = '1.0'")


def _transcript(chat: Any) -> str:
    return str(chat.locator(".soq-chat-transcript").first.inner_text())


def test_03_stop_demo_stops_a_live_answer_after_run_all(
    course_lab: LabServer, lab_page: Any
) -> None:
    lab, page = course_lab, lab_page
    _run_all_then_real_time(page, lab, "notebooks/03_cancellation_and_conversation.ipynb")

    chat = page.locator(".soq-chat").first  # the Stop demo's box
    scroll_into_view(chat)
    send = chat.locator("button.soq-chat-send")
    stop = chat.locator("button.soq-chat-stop")
    assert "[stopped]" in _transcript(chat)  # the cell's own demo is in the transcript
    assert send.is_enabled() and stop.is_disabled()
    before = _transcript(chat).count("Assistant:")

    chat.locator(".soq-chat-input input").fill(ESSAY)
    chat.locator(".soq-chat-input input").press("Enter")
    page.wait_for_function("el => !el.disabled", arg=stop.element_handle(), timeout=30_000)

    # the answer grows while a person watches (several renders, Stop still enabled)
    lengths: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(set(lengths)) < 6 and stop.is_enabled():
        lengths.append(len(_transcript(chat)))
        time.sleep(0.1)
    assert len(set(lengths)) >= 6, f"the answer did not grow live: {lengths}"
    assert stop.is_enabled(), "the answer ended before a person could press Stop"

    stop.click()
    chat.locator(".soq-chat-status").filter(has_text="Stopped").wait_for(timeout=30_000)
    saved = chat.locator(".soq-saved")
    saved.wait_for(timeout=10_000)
    assert re.search(
        r"Stopped after [\d,]+ of [\d,]+ tokens: saved [\d,]+ tokens", saved.inner_text()
    )
    text = _transcript(chat)
    assert ESSAY in text and text.count("Assistant:") == before + 1
    assert text.count("[stopped]") == 2 and send.is_enabled() and stop.is_disabled()

    settled = len(text)
    time.sleep(1.0)
    assert len(_transcript(chat)) == settled, "text kept arriving after Stop"


def _progress(page: Any) -> tuple[str, str, str]:
    """What a person sees of a running job: the bar, the message, the steps listed."""
    return (
        str(page.locator("#percent").get_attribute("value") or ""),
        str(page.locator("#status-message").inner_text()),
        " ".join(page.locator("#steps li").all_inner_texts()),
    )


def test_06_page_shows_a_persons_job_step_by_step(course_lab: LabServer, lab_page: Any) -> None:
    lab, page = course_lab, lab_page
    _run_all_then_real_time(page, lab, "notebooks/06_start_then_poll.ipynb")

    link = page.locator(".jp-OutputArea-output a[target='_blank']").last
    link.wait_for(timeout=10_000)
    url = str(link.get_attribute("href"))
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url), url

    site = page.context.new_page()
    site.goto(url)
    site.fill("#question", QUESTION)
    site.click("#ask")
    site.wait_for_url(re.compile(r".*/r/[A-Za-z0-9_-]{22}$"))
    assert site.text_content("#title") == "We're working on it"
    site.wait_for_selector("#transport:text('live')", timeout=30_000)

    # progress moves step by step at a real agent's pace: several distinct states,
    # each seen on the page, while the job is still running
    seen: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(set(seen)) < 4:
        if site.locator("#answer").count():
            break
        state = _progress(site)
        if not seen or state != seen[-1]:
            seen.append(state)
        time.sleep(0.1)
    assert len(set(seen)) >= 4, f"too few progress states before the end: {seen}"
    assert site.locator("#answer").count() == 0, "the job ended before progress was seen"
    percents = [float(p) for p, _, _ in seen if p]
    assert percents == sorted(percents) and percents[-1] < 100
    site.click("#cancel")  # a person may leave; here the job is canceled to end cleanly
    site.wait_for_selector("#title:text('This research was canceled')", timeout=30_000)
