"""The research page in a real browser: ask, watch progress, land on the permalink."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import redis
from services_support import CHROMIUM_ARGS, missing

from stream_or_queue import config
from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.server import RunningWeb

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "Why should a research agent run as a background job?"
PERMALINK = re.compile(r".*/r/[A-Za-z0-9_-]{22}$")


@pytest.fixture
def web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    config.set_time_scale(0.03)  # a job of ~2-3 s: long enough to watch its progress
    running = serve_in_thread(create_app())
    yield running
    running.stop()


@pytest.fixture
def page(chromium_path: str) -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def _ask(page: object, url: str, question: str) -> None:
    page.goto(url + "/")  # type: ignore[attr-defined]
    page.fill("#question", question)  # type: ignore[attr-defined]
    page.click("#ask")  # type: ignore[attr-defined]
    page.wait_for_url(PERMALINK)  # type: ignore[attr-defined]


def test_ask_watch_live_progress_and_land_on_the_permalink(web: RunningWeb, page: object) -> None:
    _ask(page, web.url, QUESTION)
    permalink = page.url  # type: ignore[attr-defined]
    assert page.text_content("#title") == "We're working on it"  # type: ignore[attr-defined]
    page.wait_for_selector("#steps li[data-step='searching']")  # type: ignore[attr-defined]
    page.wait_for_selector("#transport:text('live')")  # type: ignore[attr-defined]
    page.wait_for_selector("#answer p")  # type: ignore[attr-defined]
    assert page.url == permalink  # type: ignore[attr-defined]
    assert page.text_content("#title") == "Your answer"  # type: ignore[attr-defined]
    assert len(page.query_selector_all("#answer p")) == 4  # type: ignore[attr-defined]
    assert page.query_selector_all("#sources li")  # type: ignore[attr-defined]
    page.goto(permalink)  # type: ignore[attr-defined]  # the permalink works later too
    assert page.text_content("#question") == QUESTION  # type: ignore[attr-defined]
    assert len(page.query_selector_all("#answer p")) == 4  # type: ignore[attr-defined]


def test_the_page_falls_back_to_polling_when_event_streams_are_blocked(
    web: RunningWeb, page: object
) -> None:
    blocked: list[str] = []

    def refuse(route: object) -> None:
        blocked.append(route.request.url)  # type: ignore[attr-defined]
        route.abort()  # type: ignore[attr-defined]

    page.route(re.compile(r".*/events$"), refuse)  # type: ignore[attr-defined]
    _ask(page, web.url, QUESTION)
    page.wait_for_selector("#transport:text('polling')")  # type: ignore[attr-defined]
    page.wait_for_selector("#answer p")  # type: ignore[attr-defined]
    assert blocked, "the page never tried the event stream"
    assert page.text_content("#title") == "Your answer"  # type: ignore[attr-defined]


def test_the_poll_flag_forces_polling(web: RunningWeb, page: object) -> None:
    _ask(page, web.url, QUESTION)
    permalink = page.url  # type: ignore[attr-defined]
    page.goto("about:blank")  # type: ignore[attr-defined]  # the first visit's stream ends here
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))  # type: ignore[attr-defined]
    page.goto(permalink + "?transport=poll")  # type: ignore[attr-defined]
    page.wait_for_selector("#answer p")  # type: ignore[attr-defined]
    assert any("/jobs/" in u for u in requests), "the page never polled"
    assert not any(u.endswith("/events") for u in requests)


def test_a_script_in_the_question_is_shown_as_text_not_run(web: RunningWeb, page: object) -> None:
    attack = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    _ask(page, web.url, attack)
    assert page.text_content("#question") == attack  # type: ignore[attr-defined]
    page.wait_for_selector("#answer p")  # type: ignore[attr-defined]
    assert page.text_content("#question") == attack  # type: ignore[attr-defined]
    assert page.evaluate("window.pwned === undefined")  # type: ignore[attr-defined]


def test_cancel_from_the_page(web: RunningWeb, page: object) -> None:
    _ask(page, web.url, QUESTION)
    page.wait_for_selector("#steps li")  # type: ignore[attr-defined]
    page.click("#cancel")  # type: ignore[attr-defined]
    page.wait_for_selector("#title:text('canceled')")  # type: ignore[attr-defined]
