"""Is anyone working? Workers on a queue whose heartbeat is recent.

RQ keeps a registry of workers per queue and each worker's `last_heartbeat`. A
worker killed with SIGKILL stays in that registry until its key expires (RQ's
`worker_ttl` + 60 s), so "registered" is not "alive": a readiness check counts
only workers that beat within a window.
"""

from __future__ import annotations

from rq import Queue, Worker
from rq.utils import now

__all__ = ["live_workers"]


def live_workers(queue: Queue, within_s: float) -> int:
    """How many workers listening on `queue` sent a heartbeat in the last `within_s` seconds."""
    moment = now()
    count = 0
    for worker in Worker.all(queue=queue):
        beat = worker.last_heartbeat
        if beat is not None and (moment - beat).total_seconds() <= within_s:
            count += 1
    return count
