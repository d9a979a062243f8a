"""Chaos figure for DBOS: 100 workflows, worker processes killed with SIGKILL at random.

Three `python -m stream_or_queue.durable.worker` processes share one DBOS system
database (a SQLite file, or a private PostgreSQL on 127.0.0.1); a client enqueues
100 pipeline workflows (three steps and a notification); a seeded schedule kills
a busy worker with SIGKILL at exponential gaps, and its work is recovered either by
restarting it under the same executor id (`--recover restart`, DBOS recovers its
own PENDING workflows at launch) or by a new process while the client hands the
dead executor's workflows back to the queue (`--recover takeover`). The ledger the
step bodies write says what really ran: completed / lost / finished steps redone /
duplicate notifications.

Then, with no kills: throughput (workflows/s, 100 workflows of empty steps on a
pre-started fleet) and start-to-first-step latency (20 workflows enqueued one at a
time onto idle workers: enqueue -> first step body starts), beside RQ's jobs/s of
`scripts/bench_jobs.py`.

    .venv/bin/python scripts/chaos_dbos.py --db sqlite
    .venv/bin/python scripts/chaos_dbos.py --db postgres --recover takeover
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from stream_or_queue.durable import engine
from stream_or_queue.durable.pipeline import enqueue_pipeline, ledger_counts, read_ledger
from stream_or_queue.durable.postgres_server import private_postgres_server
from stream_or_queue.durable.worker import WorkerProcess, take_over


@contextlib.contextmanager
def database(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'dbos.sqlite'}"
        return
    with private_postgres_server() as url:
        yield url


def wait_all(client: object, ids: list[str], deadline: float) -> dict[str, str]:
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        rows = client.list_workflows(  # type: ignore[attr-defined]
            workflow_ids=ids, load_input=False, load_output=False
        )
        statuses = {r.workflow_id: str(r.status) for r in rows}
        if all(s in ("SUCCESS", "ERROR", "CANCELLED") for s in statuses.values()):
            break
        time.sleep(0.1)
    return statuses


def chaos(url: str, work: Path, args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    ledger = work / "chaos.jsonl"
    fleet = [WorkerProcess(f"w{i}", url, cwd=str(work)).start() for i in range(args.workers)]
    client = engine.client(url)
    spare = 0
    kills = 0
    starting: list[threading.Thread] = []
    started = time.monotonic()
    deadline = started + args.timeout
    try:
        ids = [f"chaos-{i}" for i in range(args.workflows)]
        for i, workflow_id in enumerate(ids):
            enqueue_pipeline(client, workflow_id, f"item-{i}", args.step_s, str(ledger))
        next_kill = time.monotonic() + rng.expovariate(1 / args.kill_every)
        while time.monotonic() < deadline:
            if ledger_counts(ledger).notifications >= len(ids):
                break
            alive = [w for w in fleet if w.ready and w.alive()]
            if time.monotonic() >= next_kill and kills < args.max_kills and alive:
                busy = {row["pid"] for row in read_ledger(ledger)[-20:]}
                candidates = [w for w in alive if w.pid in busy] or alive
                victim = rng.choice(candidates)
                victim.kill()
                kills += 1
                fleet.remove(victim)
                if args.recover == "restart":  # same executor id: it recovers its own work
                    replacement = WorkerProcess(victim.executor_id, url, cwd=str(work))
                else:  # a new executor; the dead one's work goes back to the queue
                    spare += 1
                    replacement = WorkerProcess(f"spare{spare}", url, cwd=str(work))
                    take_over(client, [victim.executor_id])
                fleet.append(replacement)
                # Start it in the background: kills go on while it boots (seconds here).
                starting.append(threading.Thread(target=replacement.start, daemon=True))
                starting[-1].start()
                next_kill = time.monotonic() + rng.expovariate(1 / args.kill_every)
            time.sleep(0.05)
        statuses = wait_all(client, ids, deadline)
        counts = ledger_counts(ledger)
        return {
            "workers killed": kills,
            "workflows completed": sum(s == "SUCCESS" for s in statuses.values()),
            "workflows lost (not finished at the deadline)": len(ids)
            - sum(s == "SUCCESS" for s in statuses.values()),
            "finished steps redone": counts.finished_steps_redone,
            "steps cut short by a kill": counts.interrupted_steps,
            "steps run again after finishing, before DBOS recorded them": counts.reran_unrecorded,
            "notifications (duplicates)": (
                f"{counts.notifications} ({counts.duplicate_notifications})"
            ),
            "wall time (s)": round(time.monotonic() - started, 1),
        }
    finally:
        for thread in starting:
            thread.join(timeout=120)
        for worker in fleet:
            worker.kill()
        client.destroy()


def speed(url: str, work: Path, args: argparse.Namespace) -> dict[str, object]:
    ledger = work / "speed.jsonl"
    fleet = [WorkerProcess(f"s{i}", url, cwd=str(work)).start() for i in range(args.workers)]
    client = engine.client(url)
    try:
        ids = [f"speed-{i}" for i in range(args.workflows)]
        for i, workflow_id in enumerate(ids):
            enqueue_pipeline(client, workflow_id, f"item-{i}", 0.0, str(ledger))
        wait_all(client, ids, time.monotonic() + args.timeout)
        rows = [r for r in read_ledger(ledger) if r["wf"].startswith("speed-")]
        first = min(r["t"] for r in rows if r["kind"] == "start")
        last = max(r["t"] for r in rows if r["kind"] == "notify")
        throughput = len(ids) / (last - first)

        latencies = []
        for i in range(20):
            workflow_id = f"paced-{i}"
            sent = time.time()
            enqueue_pipeline(client, workflow_id, "x", 0.0, str(ledger))
            client.retrieve_workflow(workflow_id).get_result(polling_interval_sec=0.05)
            begun = min(
                r["t"]
                for r in read_ledger(ledger)
                if r["wf"] == workflow_id and r["kind"] == "start"
            )
            latencies.append(1000 * (begun - sent))
        latencies.sort()
        p95 = latencies[int(0.95 * len(latencies)) - 1]
        return {
            "throughput (workflows/s, 3 steps + notify)": round(throughput, 1),
            "start-to-first-step p50 / p95 (ms)": (
                f"{statistics.median(latencies):.0f} / {p95:.0f}"
            ),
        }
    finally:
        for worker in fleet:
            worker.kill()
        client.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--recover", choices=("restart", "takeover"), default="restart")
    parser.add_argument("--workflows", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--step-s", type=float, default=0.3, help="real seconds per step")
    parser.add_argument("--kill-every", type=float, default=1.5, help="mean real s between kills")
    parser.add_argument("--max-kills", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=300.0, help="bound per run (real s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        results = chaos(url, Path(tmp), args)
        if not args.skip_speed:
            results.update(speed(url, Path(tmp), args))
    print(f"| DBOS on {args.db}, recovery by {args.recover} | |")
    print("|---|---:|")
    for key, value in results.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
