"""A question empty after removing whitespace and control characters is refused like ""."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
import redis

from stream_or_queue.simulator import Simulator
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.schemas import clean_question
from stream_or_queue.web.server import RunningWeb


@pytest.fixture
def idle_web(simulator: Simulator, fake_redis: redis.Redis) -> Iterator[RunningWeb]:
    running = serve_in_thread(create_app(), worker=False)
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x00\x00\x00", ""),
        (" \t\x1b\x7f\n ", ""),
        ("\u200b\u200d", ""),  # zero-width characters only
        ("\x00What is an edge timeout?\x00", "What is an edge timeout?"),
        ("two\nlines", "two\nlines"),
    ],
)
def test_clean_question(raw: str, clean: str) -> None:
    assert clean_question(raw) == clean


@pytest.mark.parametrize("blank", ["", "   ", "\x00" * 50, "\x01\x02\x1f", "\u200b \x00"])
def test_blank_questions_get_the_same_422_everywhere(idle_web: RunningWeb, blank: str) -> None:
    with httpx2.Client(base_url=idle_web.url, timeout=10) as http:
        empty = http.post("/jobs", json={"question": ""})
        job = http.post("/jobs", json={"question": blank})
        chat = http.get("/chat", params={"question": blank})
        page = http.post("/ask", data={"question": blank})
    assert job.status_code == chat.status_code == page.status_code == 422
    assert job.json() == empty.json()
    assert "the question is empty" in chat.json()["message"]
    assert "the question is empty" in page.text
