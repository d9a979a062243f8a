"""One uvicorn helper: an incomplete response is an error unless the app cut it on purpose."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import pytest
from starlette.types import Receive, Scope, Send

from stream_or_queue.edge import mark_cut_on_purpose
from stream_or_queue.serving import ServerThread, serve_in_thread


async def _cutting_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Starts a 1 KiB body, sends 6 bytes and returns: `/on-purpose` says it meant it."""
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"1024")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"start ", "more_body": True})
    if scope["path"] == "/on-purpose":
        mark_cut_on_purpose()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def served() -> Iterator[ServerThread]:
    with serve_in_thread(_cutting_app, lifespan="off", name="cut-test") as running:
        yield running


@pytest.fixture
def uvicorn_errors() -> Iterator[_Collect]:
    handler = _Collect()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _get(url: str) -> None:
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.get(url, timeout=10)


def test_a_cut_on_purpose_is_quiet_and_any_other_is_an_error(
    served: ServerThread, uvicorn_errors: _Collect
) -> None:
    _get(f"{served.url}/on-purpose")
    assert uvicorn_errors.messages == []
    _get(f"{served.url}/bug")
    assert any("without completing response" in m for m in uvicorn_errors.messages)


def test_serve_in_thread_binds_loopback_on_a_free_port(served: ServerThread) -> None:
    assert served.url == f"http://127.0.0.1:{served.port}"
    assert served.port > 0 and served.thread.is_alive()
