"""Chaos figure for durability (issue 9): 100 jobs, workers killed at random.

Runs `stream_or_queue.durable.chaos.run_chaos` twice - durable jobs (checkpointed
steps, once-only notification) and the same pipeline without checkpoints - with
the same seeded kill schedule, and prints jobs completed / lost / steps
re-executed / notifications for each.

Where it runs (`--redis`):
  auto  (default) a private `redis-server` on 127.0.0.1 with real `rq worker`
        processes killed with SIGKILL, if redis-server is installed; else fakeredis
  fake  in-process fakeredis with thread workers (a kill cuts the thread off Redis)
  URL   an existing Redis (its database is NOT flushed; queues get unique names)

Bounded: every run stops after `--timeout` real seconds.

    .venv/bin/python scripts/chaos_durable.py
    .venv/bin/python scripts/chaos_durable.py --redis fake --jobs 100 --kill-every 0.5
    .venv/bin/python scripts/chaos_durable.py --plot chaos.png
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Iterator

import redis

from stream_or_queue import config
from stream_or_queue.durable.chaos import ChaosResult, run_chaos
from stream_or_queue.jobs.redis_server import private_redis_server


@contextlib.contextmanager
def connection_for(choice: str) -> Iterator[redis.Redis]:
    if choice == "fake" or (choice == "auto" and shutil.which("redis-server") is None):
        from stream_or_queue.jobs import get_redis, reset_fake_redis

        reset_fake_redis()
        yield get_redis()
        return
    if choice == "auto":
        with private_redis_server() as url:
            conn = redis.Redis.from_url(url)
            yield conn
            conn.close()
        return
    conn = redis.Redis.from_url(choice)
    yield conn
    conn.close()


def table(results: list[ChaosResult]) -> str:
    rows = [
        ("backend", lambda r: r.backend),
        ("jobs", lambda r: r.jobs),
        ("workers", lambda r: r.workers),
        ("workers killed", lambda r: r.kills),
        ("jobs completed", lambda r: r.completed),
        ("jobs lost (failed, out of retries)", lambda r: r.lost),
        ("jobs unfinished at the deadline", lambda r: r.unfinished),
        ("attempts (job executions)", lambda r: r.attempts),
        ("step executions (needed)", lambda r: f"{r.step_executions} ({r.steps_needed})"),
        ("steps re-executed (all)", lambda r: r.extra_step_executions),
        ("... of which finished steps", lambda r: r.finished_steps_reexecuted),
        ("steps cut short by a kill (audit)", lambda r: r.interrupted_steps),
        (
            "notifications (duplicates)",
            lambda r: f"{r.notifications} ({r.duplicate_notifications})",
        ),
        ("wall time (s)", lambda r: f"{r.wall_s:.1f}"),
    ]
    head = "| | " + " | ".join(r.mode for r in results) + " |"
    line = "|---|" + "---:|" * len(results)
    body = [
        "| " + label + " | " + " | ".join(str(get(r)) for r in results) + " |"
        for label, get in rows
    ]
    return "\n".join([head, line, *body])


def plot(results: list[ChaosResult], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["completed", "lost", "steps re-executed", "duplicate\nnotifications"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.38
    for i, r in enumerate(results):
        values = [r.completed, r.lost, r.extra_step_executions, r.duplicate_notifications]
        xs = [x + (i - 0.5) * width for x in range(len(labels))]
        bars = ax.bar(xs, values, width, label=f"{r.mode} ({r.kills} workers killed)")
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_title(
        f"{results[0].jobs} jobs, {results[0].workers} workers, random kills ({results[0].backend})"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--step-s",
        type=float,
        default=10.0,
        help="simulated seconds per step (default 10: 0.1 real s)",
    )
    parser.add_argument(
        "--kill-every",
        type=float,
        default=1.0,
        help="mean real seconds between kills (default 1.0)",
    )
    parser.add_argument("--retries", type=int, default=config.DURABLE_DEFAULT_RETRIES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--redis", default="auto", help="auto | fake | redis://... URL")
    parser.add_argument("--mode", choices=["both", "durable", "naive"], default="both")
    parser.add_argument("--plot", help="save a bar chart to this PNG file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    modes = {"both": [True, False], "durable": [True], "naive": [False]}[args.mode]
    results = []
    with connection_for(args.redis) as conn:
        for durable in modes:
            results.append(
                run_chaos(
                    jobs=args.jobs,
                    workers=args.workers,
                    step_s=args.step_s,
                    kill_every_s=args.kill_every,
                    retries=args.retries,
                    seed=args.seed,
                    durable=durable,
                    connection=conn,
                    timeout_s=args.timeout,
                )
            )
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(table(results))
    if args.plot:
        plot(results, args.plot)
    durable_runs = [r for r in results if r.mode == "durable"]
    return (
        0
        if all(r.finished_steps_reexecuted == 0 and r.unfinished == 0 for r in durable_runs)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
