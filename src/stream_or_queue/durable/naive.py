"""The same pipeline with no engine: one job that runs its orders from the top.

`python -m stream_or_queue.durable.naive LEDGER --step-s S ORDER...` runs, for each
order in turn, the pipeline's steps and then its notification, writing the same
ledger lines as the DBOS pipeline (`durable.ledger`) and keeping no other record.
That is a background job on a plain runner. If its process dies, the runner has
two choices, and lesson 08 measures both on a real `kill -9`: run nothing again
(the orders not yet notified are lost), or run the job again from the top, as a
retry does (every finished step runs again, and an order notified before the crash
is notified twice).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from .ledger import STEPS, record

__all__ = ["main", "run_orders"]


def run_orders(orders: Sequence[str], step_s: float, ledger: str) -> None:
    """Every step of every order, then its notification: nothing remembered between runs."""
    for order in orders:
        for name in STEPS:
            record(ledger, "start", order, name)
            time.sleep(step_s)
            record(ledger, "end", order, name)
        record(ledger, "notify", order, "notify", f"write({order})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledger")
    parser.add_argument("orders", nargs="+")
    parser.add_argument("--step-s", type=float, default=0.2, help="real seconds per step")
    args = parser.parse_args(argv)
    run_orders(args.orders, args.step_s, args.ledger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
