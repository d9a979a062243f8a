"""Benchmark the worked example: v1, v2 and v3 on the same questions, and the cost levers.

    .venv/bin/python scripts/bench_research.py [--questions 60] [--seed 0]

Runs `research.compare.compare()` (v1 with users who never leave, v1 with the
seeded user model, v2, v3, and a deploy with 12 questions in flight for each) and
`research.compare.cost_levers()` on the first 20 questions, all offline against the
simulator, on simulated time (the figures are the same on every machine; only the
wall-clock time it takes varies). Prints the results table and a markdown block for
docs/performance.md with the machine's load average and the wall-clock time.
Exits 1 if a claim of the results table does not hold.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=60, help="how many questions (<= 60)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from stream_or_queue.course import setup
    from stream_or_queue.research import questions
    from stream_or_queue.research.compare import compare, cost_levers

    setup(seed=args.seed, quiet=True)
    chosen = questions(args.questions)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = compare(chosen, seed=args.seed)
    compare_s = time.perf_counter() - started
    started = time.perf_counter()
    levers = cost_levers(chosen[:20])
    levers_s = time.perf_counter() - started

    print(f"load average {load:.1f} (the figures below do not depend on it: simulated time)")
    print(f"compare: {compare_s:.1f} real s; cost levers: {levers_s:.1f} real s\n")
    print("| metric | v1 | v2 | v3 | claim | holds |")
    print("|---|---:|---:|---:|---|---|")
    for row in result.rows:
        print(
            f"| {row.metric} | {row.v1} | {row.v2} | {row.v3} | {row.claim} | "
            f"{'yes' if row.holds else 'NO'} |"
        )
    print(
        "\n| version | cut by the edge | user left | answered | $ per question | $ per answer "
        "| median time to answer (sim s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s in result.summaries.items():
        median = f"{s.median_time_to_answer_s:.0f}" if s.median_time_to_answer_s else "-"
        per_answer = f"{s.cost_per_answer_usd:.4f}" if s.completion_rate else "-"
        print(
            f"| {name} | {s.timeout_rate:.0%} | {s.abandonment_rate:.0%} | "
            f"{s.completion_rate:.0%} | {s.cost_per_question_usd:.4f} | {per_answer} "
            f"| {median} |"
        )
    print("\n| deploy, 30 s in | in flight | answered | tool calls lost | finished steps redone |")
    print("|---|---:|---:|---:|---:|")
    for name, d in result.deploys.items():
        print(
            f"| {name} | {d.in_flight} | {d.answered} | {d.tool_calls_lost} | "
            f"{d.finished_steps_redone} |"
        )
    print("\n| design (first 20 questions) | $ per question |")
    print("|---|---:|")
    for lever in levers:
        print(f"| {lever.name} | {lever.cost_per_question_usd:.4f} |")
    return 0 if all(row.holds for row in result.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
