"""Benchmark the ChatBox: does it keep up with a fast stream, and how fast does Stop stop?

    .venv/bin/python scripts/bench_streaming.py            # the figures in docs/performance.md
    .venv/bin/python scripts/bench_streaming.py --runs 5   # quicker

1. Keeping up. The simulated large model streams a ~1,500-word answer at a chosen
   number of *real* tokens per second (500, 2,000, 8,000: the time scale is set so
   that the model's speed becomes that rate). An observer on the transcript widget
   records every render and how many tokens it showed. Reported: the lag from the
   last token's arrival to the render that shows the complete answer (target:
   <= 100 ms at >= 500 tokens/s), the worst staleness of any token (how long it
   waited to be rendered), and renders per second (coalesced to <= 30).
   This is the kernel side: the time the widget's value holds the text, ready to be
   sent to the browser. The browser's own paint is not included.

2. Stop. A long answer streams; after 40 tokens the Stop button is clicked
   (`stop_button.click()`, the handler a real click runs). Reported: the time from
   the click to the moment the simulator's ledger records the upstream stream as
   closed (target: median <= 50 ms), in-process and over loopback HTTP (a real
   socket to the simulator's uvicorn server, which learns of the close from the
   ASGI disconnect).

Loopback only; every run is bounded (`--runs`, a 60 s timeout per answer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import anthropic

from stream_or_queue import config
from stream_or_queue.simulator import Simulator, reset_default_simulator, serve_in_thread
from stream_or_queue.streaming import percentile, upstream_record
from stream_or_queue.widgets import ChatBox

MODEL = config.LARGE_MODEL
ANSWER = "Write a 1,500-word essay about queues and streams."
LONG = "Write a 5,000-word essay on why a Stop button must stop the model."
TIMEOUT_S = 60.0


@dataclass
class KeepUp:
    rate: float
    tokens: int
    final_lag_ms: float
    worst_stale_ms: float
    renders: int
    renders_per_s: float


async def keep_up(rate: float) -> KeepUp:
    """Stream one answer at `rate` real tokens/s into a ChatBox and time its renders."""
    profile = config.TIMING[MODEL]
    reset_default_simulator(Simulator(seed=int(rate)))
    # the box plays on its own clock (the human one unless pinned): pin it to the rate
    chat = ChatBox(model=MODEL, max_tokens=4000, time_scale=profile.tokens_per_s / rate)
    renders: list[tuple[float, int]] = []
    chat.transcript.observe(
        lambda _: renders.append((time.perf_counter(), chat.rendered_tokens)), names="value"
    )
    task = chat.send(ANSWER)
    assert task is not None
    turn = await asyncio.wait_for(task, TIMEOUT_S)
    stats = turn.stats
    total = len(stats.pieces)
    scale = chat.time_scale
    arrivals = [stats.started_real + t * scale for t in stats.arrivals]
    assert chat.last_token_real is not None
    final = next(t for t, shown in renders if shown >= total)
    worst = 0.0
    index = 0
    for number, arrived in enumerate(arrivals, start=1):
        while renders[index][1] < number:
            index += 1
        worst = max(worst, renders[index][0] - arrived)
    span = arrivals[-1] - arrivals[0]
    during = [t for t, _ in renders if arrivals[0] <= t <= arrivals[-1]]
    return KeepUp(
        rate=(total - 1) / span if span > 0 else float("inf"),
        tokens=total,
        final_lag_ms=(final - chat.last_token_real) * 1000,
        worst_stale_ms=worst * 1000,
        renders=len(renders),
        renders_per_s=len(during) / span if span > 0 else 0.0,
    )


async def stop_latency(runs: int, *, over_http: bool) -> list[float]:
    """Milliseconds from a Stop click to the upstream stream closed, `runs` times."""
    config.set_time_scale(None)
    latencies: list[float] = []
    sim = Simulator(seed=7)
    server = serve_in_thread(sim) if over_http else None
    try:
        if server is not None:
            client: Any = anthropic.AsyncAnthropic(
                base_url=server.url, api_key="offline", max_retries=0
            )
        else:
            reset_default_simulator(sim)
            client = None
        for run in range(runs):
            chat = ChatBox(model=MODEL, max_tokens=8000, client=client, simulator=sim)
            task = chat.send(f"{LONG} (run {run})")
            assert task is not None
            await chat.wait_for_tokens(40, timeout_s=TIMEOUT_S)
            chat.stop_button.click()
            turn = await asyncio.wait_for(task, TIMEOUT_S)
            record = upstream_record(turn.stats.request_id, sim)
            deadline = time.monotonic() + 5
            while record is not None and record.ended is None and time.monotonic() < deadline:
                await asyncio.sleep(0.001)  # over HTTP the server learns of the close itself
            if record is None or record.ended is None or not record.cancelled:
                raise RuntimeError(f"run {run}: the upstream stream was not closed: {record}")
            assert turn.stats.cancel_requested_real is not None
            latencies.append((record.ended - turn.stats.cancel_requested_real) * 1000)
        if client is not None:
            await client.close()
    finally:
        if server is not None:
            server.stop()
    return latencies


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} ms, p95 {percentile(values, 95):.2f} ms, "
        f"max {max(values):.2f} ms"
    )


async def main(runs: int, rates: list[float]) -> int:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# bench_streaming: Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load:.1f}, {runs} runs per row\n"
    )
    print("## The widget keeps up (kernel side)\n")
    print(
        "| target tokens/s | measured tokens/s | tokens | last token -> final render "
        "(median / max) | worst token staleness per run (median / max) | "
        "renders/s while streaming |"
    )
    print("|---|---|---|---|---|---|")
    ok = True
    for rate in rates:
        results = [await keep_up(rate) for _ in range(runs)]
        lags = [r.final_lag_ms for r in results]
        stale = [r.worst_stale_ms for r in results]
        print(
            f"| {rate:,.0f} | {statistics.median(r.rate for r in results):,.0f} | "
            f"{results[0].tokens:,} | {statistics.median(lags):.1f} / {max(lags):.1f} ms | "
            f"{statistics.median(stale):.1f} / {max(stale):.1f} ms | "
            f"{statistics.median(r.renders_per_s for r in results):.1f} |"
        )
        ok &= max(lags) <= 100.0
    print("\n## Stop -> upstream stream closed\n")
    print("| path | runs | latency |")
    print("|---|---|---|")
    for over_http, label in ((False, "in-process transport"), (True, "loopback HTTP (uvicorn)")):
        latencies = await stop_latency(runs, over_http=over_http)
        print(f"| {label} | {len(latencies)} | {summary(latencies)} |")
        ok &= statistics.median(latencies) <= 50.0
    print(f"\ntargets met: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per row (1-200)")
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[500.0, 2000.0, 8000.0],
        help="real tokens/s to stream at",
    )
    args = parser.parse_args()
    if not 1 <= args.runs <= 200 or any(not 10 <= r <= 50_000 for r in args.rates):
        parser.error("--runs must be 1-200 and --rates 10-50,000 tokens/s")
    sys.exit(asyncio.run(main(args.runs, args.rates)))
