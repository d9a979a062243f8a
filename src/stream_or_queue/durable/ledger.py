"""The outside world's view of a pipeline run: a ledger of what really ran.

Each step body appends a line when it starts and when it ends, and the notification
one when it is delivered (one `write` under O_APPEND, so lines from several
processes never interleave). An engine's own record says what it *checkpointed*;
the ledger says what *ran*, so after a `kill -9` a test, a benchmark or a lesson can
count finished steps that ran again and notifications sent twice - for the DBOS
pipeline and for the naive one alike. No DBOS import here: the naive pipeline's
process does not pay for it.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["STEPS", "LedgerCounts", "ledger_counts", "read_ledger", "record"]

STEPS = ("fetch", "analyse", "write")
"""The pipeline's steps, in order; the notification comes after them."""


def record(ledger: str, kind: str, workflow_id: str, name: str, text: str = "") -> None:
    """Append one line: `kind` is start, end or notify."""
    if not ledger:
        return
    row = {
        "kind": kind,
        "wf": workflow_id,
        "step": name,
        "text": text,
        "pid": os.getpid(),
        "t": time.time(),  # wall clock: the benchmark's start-to-first-step latency
    }
    line = json.dumps(row) + "\n"
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write under O_APPEND: lines never interleave
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LedgerCounts:
    """What really ran, per the ledger: the numbers a crash test and the chaos run report.

    A step counts as *finished* once the workflow went past it (a later step started):
    DBOS moves on only after the step's result is in its record. `finished_steps_redone`
    counts bodies that ran again after that - what durable execution promises never
    happens. `reran_unrecorded` counts the at-least-once window: a body that ran to its
    end but was killed before DBOS recorded it, so it ran again (idempotent steps make
    that harmless); `interrupted_steps`, bodies cut off in the middle.
    """

    workflows: int
    steps_finished: int
    finished_steps_redone: int
    reran_unrecorded: int
    interrupted_steps: int
    notifications: int
    duplicate_notifications: int


def read_ledger(ledger: str | os.PathLike[str]) -> list[dict[str, Any]]:
    path = Path(ledger)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


_ORDER = {name: index for index, name in enumerate((*STEPS, "notify"))}


def ledger_counts(ledger: str | os.PathLike[str]) -> LedgerCounts:
    """Count finished steps, finished steps whose body ran again, and notifications."""
    furthest: dict[str, int] = {}
    ended: set[tuple[str, str]] = set()
    started: set[tuple[str, str]] = set()
    redone = reran = interrupted = 0
    notes: Counter[str] = Counter()
    for row in read_ledger(ledger):
        wf, name = row["wf"], row["step"]
        position = _ORDER[name]
        if row["kind"] in ("start", "notify"):
            if position < furthest.get(wf, -1):
                redone += 1
            elif (wf, name) in ended:
                reran += 1
            elif (wf, name) in started:
                interrupted += 1
            furthest[wf] = max(furthest.get(wf, -1), position)
            started.add((wf, name))
        if row["kind"] == "end":
            ended.add((wf, name))
        if row["kind"] == "notify":
            notes[wf] += 1
    return LedgerCounts(
        workflows=len(furthest),
        steps_finished=len({key for key in ended}),
        finished_steps_redone=redone,
        reran_unrecorded=reran,
        interrupted_steps=interrupted,
        notifications=len(notes),
        duplicate_notifications=sum(n - 1 for n in notes.values()),
    )
