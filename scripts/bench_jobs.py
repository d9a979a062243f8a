"""Benchmark background jobs (issue 6): RQ's workers side by side, in one run.

For each setup it measures, with a no-op job (`stream_or_queue.jobs.tasks.noop`),
so that the figures are the queue's own overhead:

- enqueue: how fast a caller gets job ids back (jobs/s, and the mean in ms);
- throughput: a queue pre-filled with `--jobs` jobs, drained by the worker(s);
  jobs/s = jobs / (last job's end - first job's start), from RQ's own timestamps,
  so a worker's start-up time is not counted;
- latency: `--paced` jobs enqueued one at a time onto an idle worker; enqueue-to-
  start = the job's `started_at` - `enqueued_at` (p50 and p95).

Setups: RQ's SimpleWorker on a thread (`ThreadWorker`) on the in-process fakeredis
and on a real Redis; real forking `rq worker` processes (`PreloadedWorker`) on the
real Redis, one and several; and, to calibrate, RQ's plain `rq.Worker` running
`os.getpid` (a job whose import costs nothing, forked from a small parent), and
plain `rq.Worker` running `tasks.noop` (what preloading saves).
RQ's own benchmark reports about 1,000 jobs/s for SimpleWorker and about 150
jobs/s for the forking Worker on a real Redis.

The real Redis is REDIS_URL or STREAM_OR_QUEUE_TEST_REDIS_URL, else a private `redis-server`
started on a free 127.0.0.1 port and stopped at the end. Bounded: `--jobs` per
setup (default 500). Loopback only.

    .venv/bin/python scripts/bench_jobs.py
    .venv/bin/python scripts/bench_jobs.py --jobs 200 --paced 50 --processes 1 2
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis
from rq import Queue
from rq.job import Job

from stream_or_queue import config
from stream_or_queue.jobs import ProcessWorker, ThreadWorker, Workers, get_redis
from stream_or_queue.jobs.connection import fake_client
from stream_or_queue.jobs.process import url_of
from stream_or_queue.jobs.redis_server import private_redis_server

MAX_JOBS = 5_000


@dataclass
class Result:
    setup: str
    jobs: int
    enqueue_per_s: float
    enqueue_ms: float
    throughput_per_s: float
    latency_p50_ms: float
    latency_p95_ms: float


@contextlib.contextmanager
def real_redis() -> Iterator[str]:
    """REDIS_URL / STREAM_OR_QUEUE_TEST_REDIS_URL, or a private redis-server on a free
    loopback port."""
    url = config.redis_url() or config.env("STREAM_OR_QUEUE_TEST_REDIS_URL")
    if url:
        yield url
        return
    try:
        with private_redis_server() as private_url:
            yield private_url
    except FileNotFoundError:
        sys.exit("no Redis: set REDIS_URL, or install redis-server")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_all(jobs: list[Job], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(jobs)
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} jobs still not finished after {timeout} s")
        last = pending[-1]
        if last.get_status(refresh=True) in ("finished", "failed"):
            pending = [
                j for j in pending if j.get_status(refresh=True) not in ("finished", "failed")
            ]
        else:
            time.sleep(0.01)


def bench(
    name: str,
    connection: redis.Redis,
    start: Callable[[str], Workers | ThreadWorker],
    n_jobs: int,
    n_paced: int,
    func: str = "stream_or_queue.jobs.tasks.noop",
) -> Result:
    queue = Queue(f"bench-{name.replace(' ', '-')}", connection=connection)
    queue.empty()
    # enqueue and throughput: fill the queue, then let the workers drain it
    started = time.perf_counter()
    jobs = [queue.enqueue(func, result_ttl=600) for _ in range(n_jobs)]
    enqueue_s = time.perf_counter() - started
    workers = start(queue.name)
    try:
        wait_all(jobs, timeout=max(60.0, n_jobs * 0.1))
        fetched = [j for j in Job.fetch_many([j.id for j in jobs], connection=connection) if j]
        assert all(j.get_status() == "finished" for j in fetched), "a benchmark job failed"
        first = min(j.started_at for j in fetched if j.started_at)
        last = max(j.ended_at for j in fetched if j.ended_at)
        throughput = (len(fetched) - 1) / max((last - first).total_seconds(), 1e-9)
        # latency: one job at a time onto an idle worker
        latencies = []
        for _ in range(n_paced):
            job = queue.enqueue(func, result_ttl=600)
            wait_all([job], timeout=30)
            job.refresh()
            assert job.started_at and job.enqueued_at
            latencies.append((job.started_at - job.enqueued_at).total_seconds() * 1000)
            jobs.append(job)
    finally:
        workers.stop()
    with connection.pipeline() as pipe:  # leave nothing behind on a shared Redis
        for job in jobs:
            job.delete(pipeline=pipe)
        pipe.execute()
    return Result(
        setup=name,
        jobs=n_jobs,
        enqueue_per_s=n_jobs / enqueue_s,
        enqueue_ms=enqueue_s / n_jobs * 1000,
        throughput_per_s=throughput,
        latency_p50_ms=statistics.median(latencies),
        latency_p95_ms=percentile(latencies, 0.95),
    )


def thread_worker(connection: redis.Redis) -> Callable[[str], ThreadWorker]:
    def start(queue: str) -> ThreadWorker:
        return ThreadWorker([queue], connection=connection).start()

    return start


def process_workers(url: str, n: int, worker_class: str | None = None) -> Callable[[str], Workers]:
    def start(queue: str) -> Workers:
        workers = [ProcessWorker([queue], url=url, worker_class=worker_class) for _ in range(n)]
        for w in workers:
            w.start(wait=False)
        for w in workers:
            w.wait_ready()
        return Workers("process", workers, [queue])

    return start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs per setup (default 500)")
    parser.add_argument("--paced", type=int, default=100, help="one-at-a-time jobs for latency")
    parser.add_argument(
        "--processes",
        type=int,
        nargs="*",
        default=[1, 2],
        help="rq worker process counts to run (default: 1 2)",
    )
    parser.add_argument(
        "--no-preload",
        type=int,
        default=10,
        help="jobs for the plain rq.Worker running tasks.noop without preloading "
        "(slow: each job re-imports the library; 0 skips it; default 10)",
    )
    args = parser.parse_args(argv)
    if not 10 <= args.jobs <= MAX_JOBS or not 10 <= args.paced <= MAX_JOBS:
        parser.error(f"--jobs and --paced must be 10-{MAX_JOBS}")
    if not 0 <= args.no_preload <= 50:
        parser.error("--no-preload must be 0-50")
    if any(not 1 <= n <= 8 for n in args.processes):
        parser.error("--processes counts must be 1-8")

    results = []
    fake = fake_client()
    print(f"{args.jobs} no-op jobs per setup, {args.paced} paced jobs for latency", flush=True)
    results.append(
        bench("SimpleWorker thread, fakeredis", fake, thread_worker(fake), args.jobs, args.paced)
    )
    with real_redis() as url:
        real = get_redis(url)
        results.append(
            bench(
                "SimpleWorker thread, real Redis", real, thread_worker(real), args.jobs, args.paced
            )
        )
        for n in args.processes:
            results.append(
                bench(
                    f"{n} rq worker process{'es' if n > 1 else ''}, real Redis",
                    real,
                    process_workers(url_of(real), n),
                    args.jobs,
                    args.paced,
                )
            )
        # calibration: RQ's plain forking Worker and a job from the standard library, so
        # the figure is RQ's own forking overhead on this machine (small parent, no import)
        results.append(
            bench(
                "1 plain rq.Worker, os.getpid, real Redis",
                real,
                process_workers(url_of(real), 1, "rq.Worker"),
                args.jobs,
                args.paced,
                func="os.getpid",
            )
        )
        if args.no_preload:
            # why ProcessWorker preloads: plain rq.Worker re-imports the job's module
            # (here the library and the SDK) in every forked work horse
            results.append(
                bench(
                    "1 plain rq.Worker, tasks.noop (no preload)",
                    real,
                    process_workers(url_of(real), 1, "rq.Worker"),
                    args.no_preload,
                    args.no_preload,
                )
            )
        real.connection_pool.disconnect()

    header = (
        f"| {'setup':42s} | enqueue (jobs/s) | enqueue (ms/job) | throughput (jobs/s) "
        f"| enqueue-to-start p50 (ms) | p95 (ms) |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        print(
            f"| {r.setup:42s} | {r.enqueue_per_s:16,.0f} | {r.enqueue_ms:16.2f} "
            f"| {r.throughput_per_s:19,.1f} | {r.latency_p50_ms:25.1f} | {r.latency_p95_ms:8.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
