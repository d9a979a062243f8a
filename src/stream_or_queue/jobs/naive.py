"""The queue everyone writes once - a list and a thread in one process - run as a program.

`python -m stream_or_queue.jobs.naive --jobs 20 --seconds 5` keeps its pending
work in a Python list and works through it on a thread, printing `done N` after
each job. Notebook 05 kills that process with SIGKILL (what an out-of-memory
kill, or a deploy's last step, does) and counts what is lost: the list existed
only in the process's memory, so every job not yet finished is gone - the
contrast with RQ, whose jobs live in Redis. It is kept as a program, and not a
thread of the notebook, so that the kill is a real one.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from typing import Any

from .. import clock, config

__all__ = ["NaiveQueue", "main"]


class NaiveQueue:
    """The queue everyone writes once: a list and a thread, all in this process's memory."""

    def __init__(self, on_done: Callable[[int], None] | None = None) -> None:
        self.pending: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.done = 0
        self.on_done = on_done
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="naive-queue", daemon=True)

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        with self.lock:
            self.pending.append((function, args))

    def start(self) -> NaiveQueue:
        self.thread.start()
        return self

    def _work(self) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    return
                function, args = self.pending.pop(0)
            function(*args)
            self.done += 1
            if self.on_done is not None:
                self.on_done(self.done)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stream_or_queue.jobs.naive",
        description="A home-made queue (a list and a thread) working through sleep jobs.",
    )
    parser.add_argument("--jobs", type=int, default=20, help="how many jobs to submit")
    parser.add_argument("--seconds", type=float, default=5.0, help="simulated seconds per job")
    parser.add_argument("--time-scale", type=float, default=None, help="real s per simulated s")
    args = parser.parse_args(argv)
    if args.jobs < 0 or args.seconds < 0:
        parser.error("--jobs and --seconds must be >= 0")
    if args.time_scale is not None:
        config.set_time_scale(args.time_scale)
    queue = NaiveQueue(on_done=lambda n: print(f"done {n}", flush=True))
    for _ in range(args.jobs):
        queue.submit(clock.sleep, args.seconds)
    print(f"submitted {args.jobs}", flush=True)
    queue.start().thread.join()


if __name__ == "__main__":
    main()
