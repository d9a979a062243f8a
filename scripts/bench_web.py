"""Benchmark the web service on loopback, on either backend.

    .venv/bin/python scripts/bench_web.py load --backend fake [--jobs 40 --streams-per-job 25]
        [--pollers 100]
    .venv/bin/python scripts/bench_web.py load --backend redis [same options]
    .venv/bin/python scripts/bench_web.py publish [--clients 100 --rounds 20 --rate 200]

`load` is the service as a learner starts it: `python -m stream_or_queue.web
--edge-timeout 0` as its own process, on the embedded fakeredis (`--backend
fake`, no REDIS_URL, jobs on the in-process worker thread) or on a private
`redis-server` (`--backend redis`, REDIS_URL set, the same worker thread). It
starts `--jobs` research jobs through `POST /jobs`, opens `--streams-per-job`
SSE streams on each at once (all held open together), and meanwhile runs
`--pollers` start-then-poll clients (POST, then GET once a second until the job ends). It
reports streams held to their terminal event, errors (any stream cut, any
non-2xx), event delivery p50/p99 (the event's `ts` written by the worker to the
client having parsed it), and the server's memory per open idle stream.

`publish` is the earlier micro-benchmark on real Redis: events are published
from this process to jobs nobody runs; it measures delivery and the status
endpoint alone.

Everything is bounded (fixed counts, timeouts) and bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import redis

from stream_or_queue import config
from stream_or_queue._subprocess import stop_process
from stream_or_queue.jobs import get_queue, get_redis
from stream_or_queue.serving import free_port
from stream_or_queue.web import events, jobs

ROOT = Path(__file__).resolve().parent.parent


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to price a request."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def bench_sse(
    base: str, conn: redis.Redis, job_ids: list[str], rounds: int, gap_s: float
) -> dict[str, float]:
    latencies: list[float] = []
    ready = asyncio.Event()
    connected = 0

    async def client(http: httpx2.AsyncClient, job_id: str) -> int:
        nonlocal connected
        got = 0
        async with http.stream("GET", f"/jobs/{job_id}/events") as response:
            response.raise_for_status()
            async for event in httpx2.EventSource(response):
                now = time.time()
                data: Any = event.json()
                if data["step"] == "queued":  # the backlog: the stream is open
                    connected += 1
                    if connected == len(job_ids):
                        ready.set()
                    continue
                latencies.append(now - float(data["ts"]))
                got += 1
                if event.event == "done":
                    break
        return got

    limits = httpx2.Limits(max_connections=len(job_ids) + 10)
    async with httpx2.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        tasks = [asyncio.create_task(client(http, j)) for j in job_ids]
        await asyncio.wait_for(ready.wait(), 60)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _publish_evenly, conn, job_ids, rounds, gap_s)
        counts = await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return {
        "clients": len(job_ids),
        "events": len(latencies),
        "lost": rounds * len(job_ids) - sum(counts),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def _publish_evenly(conn: redis.Redis, job_ids: list[str], rounds: int, gap_s: float) -> None:
    """`rounds` events per job, one every gap_s / len(job_ids) seconds: no bursts."""
    step = gap_s / len(job_ids)
    start = time.perf_counter()
    for n in range(rounds):
        for k, job_id in enumerate(job_ids):
            delay = start + (n * len(job_ids) + k) * step - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if n == rounds - 1:
                events.publish_terminal(conn, job_id, "finished", "done", result={"answer": "ok"})
            else:
                events.publish(conn, job_id, "working", 100 * n / rounds, f"step {n}")


async def bench_status(
    base: str, job_ids: list[str], rate: float, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0

    async def one(http: httpx2.AsyncClient, job_id: str) -> None:
        nonlocal errors
        started = time.perf_counter()
        response = await http.get(f"/jobs/{job_id}")
        latencies.append(time.perf_counter() - started)
        errors += response.status_code != 200

    total = int(rate * seconds)
    async with httpx2.AsyncClient(
        base_url=base, timeout=10, limits=httpx2.Limits(max_connections=50)
    ) as http:
        for warm in job_ids[:20]:  # open the pool's connections first
            await http.get(f"/jobs/{warm}")
        start = time.perf_counter()
        tasks = []
        for n in range(total):  # open loop: request n goes out at n / rate
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(http, job_ids[n % len(job_ids)])))
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        elapsed = time.perf_counter() - start
    return {
        "requests": total,
        "achieved_rps": total / elapsed,
        "errors": errors,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def bench_load(
    base: str, web_pid: int, n_jobs: int, per_job: int, pollers: int
) -> dict[str, float]:
    """`n_jobs` jobs x `per_job` streams held at once, plus `pollers` start-then-poll clients."""
    latencies: list[float] = []
    errors: list[str] = []
    connected = 0
    all_connected = asyncio.Event()
    total_streams = n_jobs * per_job
    limits = httpx2.Limits(max_connections=total_streams + pollers + 20)
    timeout = httpx2.Timeout(120, connect=60)
    async with httpx2.AsyncClient(base_url=base, timeout=timeout, limits=limits) as http:

        async def post_job(n: int) -> str:
            response = await http.post("/jobs", json={"question": f"load question {n}"})
            response.raise_for_status()
            return str(response.json()["id"])

        async def stream(job_id: str) -> None:
            nonlocal connected
            counted = done = False
            try:
                async with http.stream("GET", f"/jobs/{job_id}/events") as response:
                    response.raise_for_status()
                    async for event in httpx2.EventSource(response):
                        now = time.time()
                        data: Any = event.json()
                        if not counted:
                            counted = True
                            connected += 1
                            if connected == total_streams:
                                all_connected.set()
                        if data["step"] != "queued":
                            latencies.append(now - float(data["ts"]))
                        if event.event == "done":
                            done = True
                            break
            except Exception as exc:  # a cut stream is what this benchmark looks for
                errors.append(f"stream: {type(exc).__name__}: {exc}")
                return
            if not done:
                errors.append("stream: ended without its terminal event")

        async def poller(n: int) -> None:
            try:
                job_id = await post_job(10_000 + n)
                for _ in range(2_000):
                    response = await http.get(f"/jobs/{job_id}")
                    response.raise_for_status()
                    if response.json()["status"] in ("finished", "failed", "canceled"):
                        if response.json()["status"] != "finished":
                            errors.append(f"poll: job {response.json()['status']}")
                        return
                    await asyncio.sleep(1.0)  # a polite poller (clients.poll_job backs off to more)
                errors.append("poll: job did not end")
            except Exception as exc:
                errors.append(f"poll: {type(exc).__name__}: {exc}")

        job_ids = [await post_job(n) for n in range(n_jobs)]
        memory_before = rss_bytes(web_pid)
        started = time.perf_counter()
        tasks = [asyncio.create_task(stream(j)) for j in job_ids for _ in range(per_job)]
        tasks += [asyncio.create_task(poller(n)) for n in range(pollers)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_connected.wait(), 120)
        memory_held = rss_bytes(web_pid)
        await asyncio.wait_for(asyncio.gather(*tasks), 600)
        elapsed = time.perf_counter() - started
    stream_errors = [e for e in errors if e.startswith("stream")]
    return {
        "streams": total_streams,
        "held": total_streams - len(stream_errors),
        "connected": connected,
        "pollers": pollers,
        "errors": len(errors),
        "events": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else math.nan,
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else math.nan,
        "kib_per_stream": (memory_held - memory_before) / 1024 / max(1, connected),
        "seconds": elapsed,
        "first_errors": "; ".join(sorted(set(errors))[:3]),  # type: ignore[dict-item]
    }


def _start_redis(workdir: str, procs: list[subprocess.Popen[bytes]]) -> str:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("bench_web needs Debian's redis-server")
    port = free_port()
    procs.append(
        subprocess.Popen(
            [
                server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    _wait_port(port, procs[-1], "redis-server")
    return f"redis://127.0.0.1:{port}/0"


def run_load(args: argparse.Namespace) -> int:
    workdir = tempfile.mkdtemp(prefix="soq-bench-web-")
    procs: list[subprocess.Popen[bytes]] = []
    log_path = Path(workdir) / "web.log"
    try:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        if args.backend == "redis":
            env["REDIS_URL"] = _start_redis(workdir, procs)
        web_port = free_port()
        with log_path.open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "stream_or_queue.web",
                        "--port",
                        str(web_port),
                        "--edge-timeout",
                        "0",
                        "--worker",
                        "--time-scale",
                        str(args.time_scale),
                    ],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_port(web_port, procs[-1], "the web service")
        print(
            f"machine: {os.cpu_count()} cores, load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; backend: {args.backend}"
        )
        result = asyncio.run(
            bench_load(
                f"http://127.0.0.1:{web_port}",
                procs[-1].pid,
                args.jobs,
                args.streams_per_job,
                args.pollers,
            )
        )
        tracebacks = log_path.read_text(errors="replace").count("Traceback")
        print(
            f"load ({args.backend}): {result['streams']} streams ({args.jobs} jobs x "
            f"{args.streams_per_job}), held to the end {result['held']}, "
            f"{result['pollers']} pollers; errors {result['errors']}, "
            f"server tracebacks {tracebacks}; delivery p50 {result['p50_ms']:.1f} ms, "
            f"p99 {result['p99_ms']:.1f} ms over {result['events']} events; "
            f"server memory {result['kib_per_stream']:.1f} KiB per open stream; "
            f"{result['seconds']:.1f} s"
        )
        if result["errors"]:
            print(f"first errors: {result['first_errors']}")
        return 0 if result["errors"] == 0 and tracebacks == 0 else 1
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    load = sub.add_parser("load", help="jobs, SSE streams and pollers on either backend")
    load.add_argument("--backend", choices=("fake", "redis"), default="fake")
    load.add_argument("--jobs", type=int, default=40)
    load.add_argument("--streams-per-job", type=int, default=25)
    load.add_argument("--pollers", type=int, default=100)
    load.add_argument("--time-scale", type=float, default=0.002)
    publish = sub.add_parser("publish", help="event delivery and status on real Redis")
    publish.add_argument("--clients", type=int, default=100)
    publish.add_argument("--rounds", type=int, default=20)
    publish.add_argument(
        "--gap",
        type=float,
        default=0.5,
        help="seconds between two events of one job (events are spread evenly)",
    )
    publish.add_argument("--rate", type=float, default=200.0)
    publish.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.command is None:  # `make bench`: both backends, then the micro-benchmark
        worst = 0
        for argv in (["load", "--backend", "fake"], ["load", "--backend", "redis"], ["publish"]):
            chosen = parser.parse_args(argv)
            worst = max(worst, run_load(chosen) if argv[0] == "load" else run_publish(chosen))
        return worst
    if args.command == "load":
        if not (1 <= args.jobs * args.streams_per_job <= 2000 and 0 <= args.pollers <= 1000):
            parser.error("keep it bounded: 1-2000 streams, 0-1000 pollers")
        return run_load(args)
    if not (
        1 <= args.clients <= 1000
        and 2 <= args.rounds <= 1000
        and 1 <= args.rate <= 2000
        and 1 <= args.seconds <= 60
    ):
        parser.error("keep it bounded: clients 1-1000, rounds 2-1000, rate 1-2000, seconds 1-60")
    return run_publish(args)


def run_publish(args: argparse.Namespace) -> int:
    server = shutil.which("redis-server")
    if server is None:
        print("bench_web needs Debian's redis-server", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="soq-bench-web-")
    redis_port, web_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    server,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    workdir,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait_port(redis_port, procs[-1], "redis-server")
        url = f"redis://127.0.0.1:{redis_port}/0"
        env = {**os.environ, "REDIS_URL": url}
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "stream_or_queue.web",
                    "--port",
                    str(web_port),
                    "--no-worker",
                    "--edge-timeout",
                    "0",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait_port(web_port, procs[-1], "the web service")
        conn = get_redis(url)
        queue = get_queue(config.WEB_QUEUE, connection=conn)
        job_ids = [
            jobs.submit(f"benchmark question {n}", queue=queue).id for n in range(args.clients)
        ]
        base = f"http://127.0.0.1:{web_port}"
        print(
            f"machine: {os.cpu_count()} cores, load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        web_pid = procs[-1].pid
        cpu = cpu_seconds(web_pid)
        sse = asyncio.run(bench_sse(base, conn, job_ids, args.rounds, args.gap))
        sse_cpu, cpu = cpu_seconds(web_pid) - cpu, cpu_seconds(web_pid)
        print(
            f"SSE: {sse['clients']} clients, {sse['events']} events, lost {sse['lost']}: "
            f"delivery p50 {sse['p50_ms']:.1f} ms, p99 {sse['p99_ms']:.1f} ms, "
            f"max {sse['max_ms']:.1f} ms (target p99 <= 50 ms); "
            f"server CPU {1000 * sse_cpu / max(1, sse['events']):.2f} ms per event"
        )
        status = asyncio.run(bench_status(base, job_ids, args.rate, args.seconds))
        status_cpu = cpu_seconds(web_pid) - cpu
        print(
            f"GET /jobs/{{id}}: {status['requests']} requests at "
            f"{status['achieved_rps']:.0f}/s, {status['errors']} errors: "
            f"p50 {status['p50_ms']:.1f} ms, p99 {status['p99_ms']:.1f} ms, "
            f"max {status['max_ms']:.1f} ms (target p99 <= 10 ms); "
            f"server CPU {1000 * status_cpu / status['requests']:.2f} ms per request"
        )
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
