"""Benchmark the Messages API simulator behind the real SDK (issue 3).

Measures what the simulator adds on top of the timing it simulates:

* **TTFT overhead**: wall-clock time from opening a stream to the first text
  token, minus the time to first token the simulator scheduled for that request
  (`RequestRecord.scheduled_ttft_s` x time scale). Median and p95, for the sync
  and async SDK in-process, and for the sync SDK over loopback HTTP (the server
  in a thread, and `python -m stream_or_queue.simulator` in its own process).
* **Unthrottled stream rate**: output tokens per second the SDK receives from a
  long answer at time scale 0 (no simulated waiting at all).

Bounded (a few hundred requests) and loopback only. Prints a markdown table.

    .venv/bin/python scripts/bench_simulator.py            # full run (~1 min)
    .venv/bin/python scripts/bench_simulator.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx2

from stream_or_queue import config
from stream_or_queue._subprocess import stop_process
from stream_or_queue.simulator import (
    AsyncSimulatorTransport,
    Simulator,
    SimulatorTransport,
    serve_in_thread,
)

MODEL = config.FAST_MODEL
TIME_SCALE = 0.01  # the course's default: TTFTs of 3-7 ms real for the fast model
TARGET_INPROC_MS = 2.0
TARGET_HTTP_MS = 10.0
TARGET_RATE = 5_000.0
LONG_PROMPT = "Write a 3000-word report on message queues and streaming."


def _params(i: int, prompt: str | None = None, max_tokens: int = 512) -> dict[str, Any]:
    text = prompt or f"Question {i}: when should a feature stream and when should it queue?"
    return {
        "model": MODEL,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# --- TTFT overhead --------------------------------------------------------------------------------


def ttft_sync(
    client: anthropic.Anthropic, n: int, scheduled: Callable[[str], float]
) -> list[float]:
    """Overheads in ms: measured TTFT minus scheduled TTFT, one stream per request."""
    overheads: list[float] = []
    for i in range(n):
        started = time.perf_counter()
        with client.messages.stream(**_params(i)) as stream:
            next(iter(stream.text_stream))
            first = time.perf_counter() - started
            request_id = stream.request_id or ""
        overheads.append((first - scheduled(request_id)) * 1000)
    return overheads


async def ttft_async(
    client: anthropic.AsyncAnthropic, n: int, scheduled: Callable[[str], float]
) -> list[float]:
    overheads: list[float] = []
    for i in range(n):
        started = time.perf_counter()
        async with client.messages.stream(**_params(i)) as stream:
            async for _ in stream.text_stream:
                break
            first = time.perf_counter() - started
            request_id = stream.request_id or ""
        overheads.append((first - scheduled(request_id)) * 1000)
    return overheads


def _scheduled_in(sim: Simulator) -> Callable[[str], float]:
    def scheduled(request_id: str) -> float:
        record = sim.find(request_id)
        assert record is not None, request_id
        return record.scheduled_ttft_s * config.time_scale()

    return scheduled


def _sync_client(sim: Simulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="bench",
        base_url="http://simulator.bench",
        max_retries=0,
        http_client=httpx2.Client(transport=SimulatorTransport(sim)),
    )


def _async_client(sim: Simulator) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="bench",
        base_url="http://simulator.bench",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=AsyncSimulatorTransport(sim)),
    )


@contextmanager
def _simulator_process(scale: float) -> Iterator[str]:
    """`python -m stream_or_queue.simulator` on a free loopback port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stream_or_queue.simulator",
            "--port",
            str(port),
            "--time-scale",
            str(scale),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{url}/_sim/stats", timeout=0.5).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the simulator process did not start")
            time.sleep(0.05)
        yield url
    finally:
        stop_process(proc)


def _ttft_over_process(n: int, warmup: int, scale: float) -> list[float]:
    """Overheads against a separate simulator process (ledger fetched over HTTP at the end)."""
    with _simulator_process(scale) as url:
        measured: list[tuple[str, float]] = []
        with anthropic.Anthropic(api_key="bench", base_url=url, max_retries=0) as client:
            for i in range(warmup + n):
                started = time.perf_counter()
                with client.messages.stream(**_params(i)) as stream:
                    next(iter(stream.text_stream))
                    first = time.perf_counter() - started
                    request_id = stream.request_id or ""
                if i >= warmup:
                    measured.append((request_id, first))
        ledger = {r["request_id"]: r for r in httpx2.get(f"{url}/_sim/ledger", timeout=10).json()}
    return [(first - ledger[rid]["scheduled_ttft_s"] * scale) * 1000 for rid, first in measured]


# --- stream rate ----------------------------------------------------------------------------------


def rate_sync(client: anthropic.Anthropic, repeats: int) -> list[float]:
    rates: list[float] = []
    for i in range(repeats):
        started = time.perf_counter()
        tokens = 0
        with client.messages.stream(**_params(i, f"{LONG_PROMPT} ({i})", 8000)) as stream:
            for _ in stream.text_stream:
                tokens += 1
        rates.append(tokens / (time.perf_counter() - started))
    return rates


async def rate_async(client: anthropic.AsyncAnthropic, repeats: int) -> list[float]:
    rates: list[float] = []
    for i in range(repeats):
        started = time.perf_counter()
        tokens = 0
        async with client.messages.stream(**_params(i, f"{LONG_PROMPT} ({i})", 8000)) as stream:
            async for _ in stream.text_stream:
                tokens += 1
        rates.append(tokens / (time.perf_counter() - started))
    return rates


# --- the run --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="streams per TTFT row")
    parser.add_argument("--repeats", type=int, default=8, help="long streams per rate row")
    parser.add_argument("--quick", action="store_true", help="30 requests, 2 repeats")
    parser.add_argument("--no-process", action="store_true", help="skip the `python -m` server row")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=TIME_SCALE,
        help="real s per simulated s for the TTFT rows (0: pure overhead, nothing scheduled)",
    )
    args = parser.parse_args(argv)
    scale = args.time_scale
    n, repeats = (
        (30, 2) if args.quick else (max(1, min(args.requests, 2000)), max(1, min(args.repeats, 50)))
    )
    warmup = 10
    rows: list[tuple[str, list[float], str, str]] = []  # label, values, unit, target

    config.set_time_scale(scale)
    sim = Simulator(seed=1)
    scheduled = _scheduled_in(sim)
    with _sync_client(sim) as client:
        ttft_sync(client, warmup, scheduled)
        rows.append(
            (
                "TTFT overhead, sync SDK, in-process",
                ttft_sync(client, n, scheduled),
                "ms",
                f"<= {TARGET_INPROC_MS:g} ms",
            )
        )

    async def async_rows() -> list[float]:
        async with _async_client(sim) as client:
            await ttft_async(client, warmup, scheduled)
            return await ttft_async(client, n, scheduled)

    rows.append(
        (
            "TTFT overhead, async SDK, in-process",
            asyncio.run(async_rows()),
            "ms",
            f"<= {TARGET_INPROC_MS:g} ms",
        )
    )

    with (
        serve_in_thread(sim) as server,
        anthropic.Anthropic(api_key="bench", base_url=server.url, max_retries=0) as client,
    ):
        ttft_sync(client, warmup, scheduled)
        rows.append(
            (
                "TTFT overhead, sync SDK, loopback HTTP (server thread)",
                ttft_sync(client, n, scheduled),
                "ms",
                f"<= {TARGET_HTTP_MS:g} ms",
            )
        )
    if not args.no_process:
        rows.append(
            (
                "TTFT overhead, sync SDK, loopback HTTP (`python -m` process)",
                _ttft_over_process(n, warmup, scale),
                "ms",
                f"<= {TARGET_HTTP_MS:g} ms",
            )
        )

    config.set_time_scale(0.0)
    with _sync_client(sim) as client:
        rate_sync(client, 1)
        rows.append(
            (
                "Unthrottled stream rate, sync SDK, in-process (time scale 0)",
                rate_sync(client, repeats),
                "tokens/s",
                f">= {TARGET_RATE:,.0f} tokens/s",
            )
        )

    async def async_rate() -> list[float]:
        async with _async_client(sim) as client:
            await rate_async(client, 1)
            return await rate_async(client, repeats)

    rows.append(
        (
            "Unthrottled stream rate, async SDK, in-process (time scale 0)",
            asyncio.run(async_rate()),
            "tokens/s",
            f">= {TARGET_RATE:,.0f} tokens/s",
        )
    )
    with (
        serve_in_thread(sim) as server,
        anthropic.Anthropic(api_key="bench", base_url=server.url, max_retries=0) as client,
    ):
        rows.append(
            (
                "Unthrottled stream rate, sync SDK, loopback HTTP (server thread)",
                rate_sync(client, repeats),
                "tokens/s",
                "(for reference)",
            )
        )
    config.set_time_scale(None)

    print(
        f"Simulator benchmark: {n} streams per TTFT row, {repeats} long streams per rate row, "
        f"time scale {scale:g} for TTFT; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end.\n"
    )
    print("| measurement | median | p95 | target | met |")
    print("|---|---:|---:|---|---|")
    failed = 0
    for label, values, unit, target in rows:
        median = statistics.median(values)
        if unit == "ms":
            p95 = _percentile(values, 0.95)
            limit = TARGET_INPROC_MS if "in-process" in label else TARGET_HTTP_MS
            met = median <= limit and p95 <= limit
            cells = f"{median:.2f} ms | {p95:.2f} ms"
        else:
            p5 = _percentile(values, 0.05)  # the slow end of a rate is its 5th percentile
            met = median >= TARGET_RATE if target.startswith(">=") else True
            cells = f"{median:,.0f} tokens/s | {p5:,.0f} tokens/s (p5)"
        failed += not met
        print(f"| {label} | {cells} | {target} | {'yes' if met else 'NO'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
