"""Prove the real-Redis path is steady: the same tests, many times, on a busy machine.

Two loops, each a series of fresh `pytest` processes (each starts its own private
`redis-server` on a free 127.0.0.1 port, and its own `rq worker` processes):

- `--notebook-runs N`: notebook 05 and its solution, executed on a real Redis with
  real worker processes (`tests/test_jobs_notebook.py -m real_redis`), N times;
- `--suite-runs M`: every `real_redis` test of the suite, M times, while a CPU burner
  (one spinning process per core, stopped when the loop ends) keeps every core busy.

It prints how many runs passed and failed and the slowest run. Bounded: every pytest
run has a timeout; the burner lives only as long as the loop.

    .venv/bin/python scripts/stress_real_redis.py --notebook-runs 20 --suite-runs 5
    .venv/bin/python scripts/stress_real_redis.py --notebook-runs 0 --suite-runs 10 \
        --suite-path tests/test_web_restart.py
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 1800


@dataclass
class Series:
    name: str
    durations: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def row(self) -> str:
        runs = len(self.durations)
        slowest = max(self.durations, default=0.0)
        median = sorted(self.durations)[runs // 2] if runs else 0.0
        passed = runs - len(self.failures)
        failed = len(self.failures)
        return f"| {self.name} | {runs} | {passed} | {failed} | {median:.0f} | {slowest:.0f} |"


def _spin(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


@contextlib.contextmanager
def cpu_burner(limit_s: float) -> Iterator[None]:
    """One busy process per core, for at most `limit_s` seconds (or until the block ends)."""
    stop_at = time.monotonic() + limit_s
    burners = [
        multiprocessing.Process(target=_spin, args=(stop_at,), daemon=True)
        for _ in range(os.cpu_count() or 1)
    ]
    for burner in burners:
        burner.start()
    try:
        yield
    finally:
        for burner in burners:
            burner.terminate()
            burner.join(5)


def _pytest(args: list[str], series: Series, run: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STREAM_OR_QUEUE_TEST_REDIS_URL"}
    env["STREAM_OR_QUEUE_REQUIRE_SERVICES"] = "1"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    series.durations.append(time.perf_counter() - started)
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    if result.returncode != 0:
        series.failures.append(f"run {run}: {summary}")
        print(result.stdout[-4000:], file=sys.stderr)
    print(f"{series.name} run {run}: {summary} ({series.durations[-1]:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook-runs", type=int, default=20)
    parser.add_argument("--suite-runs", type=int, default=5)
    parser.add_argument(
        "--suite-path",
        default="tests",
        help="what the suite loop runs (its real_redis tests): default the whole suite; "
        "a test file to repeat one test many times",
    )
    args = parser.parse_args(argv)
    notebook = Series("notebook 05 + solution on real Redis")
    for run in range(1, args.notebook_runs + 1):
        _pytest(["tests/test_jobs_notebook.py", "-m", "real_redis"], notebook, run)
    suite = Series(
        "every real_redis test, both cores busy"
        if args.suite_path == "tests"
        else f"the real_redis tests of {args.suite_path}, both cores busy"
    )
    if args.suite_runs:
        with cpu_burner(limit_s=args.suite_runs * RUN_TIMEOUT_S):
            for run in range(1, args.suite_runs + 1):
                _pytest([args.suite_path, "-m", "real_redis"], suite, run)
    print(f"\n{os.cpu_count()} cores")
    print("| series | runs | passed | failed | median s | slowest s |")
    print("|---|---:|---:|---:|---:|---:|")
    for series in (notebook, suite):
        if series.durations:
            print(series.row())
    for failure in notebook.failures + suite.failures:
        print("FAILED", failure)
    return 1 if notebook.failures or suite.failures else 0


if __name__ == "__main__":
    sys.exit(main())
