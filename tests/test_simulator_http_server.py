"""The simulator as a loopback HTTP server: in a thread, and as `python -m` in a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from simulator_support import (
    HEADERS,
    ask,
    ask_params,
    http_client,
    parse_sse,
)
from support import wait_until

from stream_or_queue._subprocess import stop_process
from stream_or_queue.serving import free_port
from stream_or_queue.simulator import RunningServer, Simulator, SimulatorApp, serve_in_thread


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with serve_in_thread(Simulator(seed=10)) as running:
        yield running


def test_binds_loopback_on_a_free_port(server: RunningServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert int(server.url.rsplit(":", 1)[1]) > 0


def test_admin_routes_expose_the_ledger(server: RunningServer) -> None:
    with http_client(server.url) as client:
        message = client.messages.create(**ask("hello"))
    with httpx2.Client(base_url=server.url) as http:
        stats = http.get("/_sim/stats").json()
        ledger = http.get("/_sim/ledger").json()
        assert stats["requests"] == 1 and stats["delivered_output_tokens"] > 0
        assert ledger[0]["request_id"] == message._request_id
        assert http.post("/_sim/reset").json() == {"ok": True}
        assert http.get("/_sim/stats").json()["requests"] == 0
        assert http.get("/_sim/nothing").status_code == 404


def test_stop_is_clean_and_idempotent() -> None:
    running = serve_in_thread(Simulator())
    url = running.url
    running.stop()
    running.stop()
    with pytest.raises(httpx2.ConnectError), httpx2.Client(base_url=url) as http:
        http.get("/_sim/stats", timeout=2)


def test_concurrent_streams_are_served_together(server: RunningServer) -> None:
    import asyncio

    from simulator_support import async_http_client

    async def many() -> list[str]:
        async with async_http_client(server.url) as client:

            async def one(i: int) -> str:
                async with client.messages.stream(**ask(f"question {i}")) as stream:
                    return "".join([piece async for piece in stream.text_stream])

            return await asyncio.gather(*(one(i) for i in range(6)))

    texts = asyncio.run(many())
    assert len(texts) == 6 and all(texts)
    assert server.simulator.stats()["requests"] == 6


def test_a_chunked_upload_is_refused_as_soon_as_it_passes_the_limit() -> None:
    """Without a Content-Length, the body is counted as it arrives; the server stays up."""
    sim = Simulator(max_body_bytes=1_000, max_batch_body_bytes=4_000)

    def chunks() -> Iterator[bytes]:
        for _ in range(20):  # 20 kB offered, 4 kB allowed
            yield b"x" * 1_000

    with serve_in_thread(sim) as running, httpx2.Client(base_url=running.url) as http:
        response = http.post("/v1/messages/batches", content=chunks(), headers=HEADERS)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "request_too_large"
        assert http.post("/v1/messages", json=ask("hello"), headers=HEADERS).status_code == 200
    assert [r.status for r in sim.ledger] == [200], "the refused upload never reached the model"


async def _drive(app: SimulatorApp, scope: dict[str, Any], incoming: list[Any]) -> list[Any]:
    """Run one ASGI call with scripted incoming messages; return what the app sent."""
    sent: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_the_app_takes_part_in_the_lifespan_protocol_and_ignores_websockets() -> None:
    app = SimulatorApp(Simulator())
    lifespan = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    assert await _drive(app, {"type": "lifespan"}, lifespan) == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert await _drive(app, {"type": "websocket"}, []) == []


def _http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": headers}


@pytest.mark.anyio
async def test_a_client_gone_mid_upload_gets_no_answer() -> None:
    sim = Simulator()
    incoming = [
        {"type": "http.request", "body": b'{"model":', "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert await _drive(SimulatorApp(sim), _http_scope("/v1/messages", []), incoming) == []
    assert sim.ledger == []


@pytest.mark.anyio
async def test_an_unreadable_content_length_is_read_as_none_declared() -> None:
    scope = _http_scope("/_sim/stats", [(b"content-length", b"lots")])
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    start, body = await _drive(SimulatorApp(Simulator()), scope, incoming)
    assert start["status"] == 200
    assert json.loads(body["body"])["requests"] == 0


@pytest.fixture
def process() -> Iterator[str]:
    """`python -m stream_or_queue.simulator` on a free port, stopped after the test."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stream_or_queue.simulator",
            "--port",
            str(port),
            "--seed",
            "3",
            "--time-scale",
            "0.001",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx2.get(f"{url}/_sim/stats", timeout=0.5).status_code == 200
        except httpx2.HTTPError:
            return False

    try:
        try:
            wait_until(up, 20, "the simulator process to start")
        except pytest.fail.Exception:
            proc.kill()
            _, err = proc.communicate(timeout=5)
            pytest.fail(f"the simulator process did not start: {err.decode()[-2000:]}")
        yield url
    finally:
        stop_process(proc)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.slow
def test_module_entry_point_serves_the_sdk_and_raw_http(process: str) -> None:
    with http_client(process) as client:
        message = client.messages.create(**ask("What is a job queue?"))
        with client.messages.stream(**ask("What is a job queue?")) as stream:
            streamed = "".join(stream.text_stream)
        counted = client.messages.count_tokens(
            model=message.model, messages=ask("What is a job queue?")["messages"]
        )
        batch = client.messages.batches.create(
            requests=[{"custom_id": "one", "params": ask_params("What is a job queue?")}]
        )
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(**{**ask("x"), "model": "claude-imaginary-9"})
    assert message.stop_reason == "end_turn" and streamed
    assert counted.input_tokens == message.usage.input_tokens
    assert batch.processing_status == "in_progress"

    # raw HTTP, as curl would send it
    with httpx2.Client(base_url=process) as http:
        plain = http.post("/v1/messages", json=ask("hi"), headers=HEADERS)
        assert plain.status_code == 200 and plain.json()["type"] == "message"
        with http.stream(
            "POST", "/v1/messages", json={**ask("hi"), "stream": True}, headers=HEADERS
        ) as response:
            events = parse_sse(b"".join(response.iter_bytes()))
        assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
        bad = http.post("/v1/messages", content=b"{oops", headers=HEADERS)
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        assert http.get("/_sim/stats").json()["errors"] >= 2

    curl = shutil.which("curl")
    if curl:  # the README's promise: any client, curl included
        out = subprocess.run(
            [
                curl,
                "-sS",
                "--max-time",
                "20",
                f"{process}/v1/messages",
                "-H",
                "x-api-key: any",
                "-H",
                "content-type: application/json",
                "-d",
                '{"model":"claude-haiku-4-5","max_tokens":50,"stream":true,'
                '"messages":[{"role":"user","content":"hi"}]}',
            ],
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
        assert parse_sse(out)[-1][0] == "message_stop"


@pytest.mark.slow
def test_module_entry_point_rejects_bad_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stream_or_queue.simulator", "--faults", "typo=1"],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"unknown fault" in result.stderr
