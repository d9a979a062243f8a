"""A job's own schedule: how long its work takes in simulated seconds.

A figure a notebook prints must be the same on every run. A job timed on the wall
clock does not give that: at the course's time scale a busy CPU stretches every
wait, so the same report takes longer on a busy machine than on an idle one. A job
knows its own schedule. Its waits are stated (`clock.sleep(25)` stands for 25
simulated seconds whatever the CPU does), and the simulator decides each model
call's timing from the request itself (`RequestRecord.scheduled_total_s`, seeded by
the request's content). `JobSchedule` adds the two up as the job goes, so a job can
say how long it took, and when each of its progress reports happened, exactly.

Why not a simulated timeline (`clock.simulated(pace=...)`) inside the job: it would
do for calls answered in-process, but a live call, or one to the simulator over
HTTP, waits in the network and does not move a timeline, so its time would be lost.
A schedule reads what the simulator decided where there is one, and counts what a
call measurably took where there is none.

Offline the simulator that answered is this process's shared one (a worker thread
or an `rq worker` process: the job runs where its requests are recorded). Live, or
against the simulator over HTTP (its ledger is in another process), there is no
schedule to read: a model call then counts the time it measurably took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import clock

if TYPE_CHECKING:
    from ..simulator.engine import RequestRecord

__all__ = ["JobSchedule", "scheduled"]


def scheduled(request_id: str | None) -> RequestRecord | None:
    """The shared simulator's record of a request (its scheduled timing), if it answered it.

    `request_id` is the SDK's `message._request_id` (or a stream's `request_id`).
    """
    if not request_id:
        return None
    from ..simulator import default_simulator  # here: a job that never calls a model skips it

    return default_simulator().find(request_id)


@dataclass
class JobSchedule:
    """Simulated seconds of a job's work so far, added up from its schedule.

    >>> schedule = JobSchedule()
    >>> schedule.sleep(25)                         # a stated wait: gathering data
    >>> message = schedule.create(client(), model=..., max_tokens=..., messages=...)
    >>> schedule.elapsed_s                        # 25 + the call's scheduled duration
    """

    elapsed_s: float = 0.0

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time (really, at the time scale) and count them."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        clock.sleep(seconds)
        self.elapsed_s += seconds

    def create(self, client: Any, **params: Any) -> Any:
        """`client.messages.create(**params)`, counted at the duration the simulator scheduled.

        Without a schedule to read (live, or the simulator over HTTP) the call counts
        the simulated seconds it measurably took.
        """
        watch = clock.Stopwatch()
        message = client.messages.create(**params)
        record = scheduled(getattr(message, "_request_id", None))
        self.elapsed_s += record.scheduled_total_s if record is not None else watch.elapsed
        return message
