"""`python -m stream_or_queue.jobs --workers N --url URL QUEUE...`: workers that come back.

A plain `rq worker` quits when its Redis connection drops ("found an unhandled
exception, quitting"), and a worker killed with SIGKILL leaves its job
"started" until RQ's maintenance notices - by default a minute of heartbeat
plus up to ten minutes between maintenance runs. The `Supervisor` runs N of
RQ's own forking workers (`CourseWorker`, started as `rq worker` processes
with the course's timings) and looks at them every `WORKER_SUPERVISE_S`:

- a worker's Redis commands retry through an outage of up to
  `WORKER_REDIS_RETRY_S` (a restart), so a restart does not end it;
- a worker that exits anyway, or is killed, is replaced; its work horse, if
  it outlived it, is killed (found by the worker's name on its command line),
  its jobs are handed to RQ's own
  abandoned-job handling at once - retried while they have retries left
  (`Retry`), failed otherwise - and its registration is removed;
- a worker that vanished without this supervisor seeing it (its machine died)
  is handled by RQ's maintenance, which the course's timings bring to 25 s.

The same command runs under systemd (`Restart=always`) or in a container
(`restart: always`): the supervisor keeps its workers, the platform keeps it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Worker
from rq.job import JobStatus

from .. import config
from .process import ProcessWorker

__all__ = ["COURSE_WORKER", "Supervisor", "course_worker_args", "main", "requeue_jobs_of"]

WORKER_SUPERVISE_S = 0.5
"""How often the supervisor looks at its workers: a worker it sees die has its jobs
requeued and a replacement started within this (plus the time to start one)."""

log = logging.getLogger(__name__)

COURSE_WORKER = "stream_or_queue.jobs.process.CourseWorker"
_RESTART_FIRST_S = 0.5
_RESTART_MAX_S = 5.0


def course_worker_args() -> list[str]:
    """The `rq worker` options that carry the course's timings (see `config.WORKER_*`)."""
    return [
        "--worker-ttl",
        str(config.WORKER_TTL_S),
        "--job-monitoring-interval",
        str(config.WORKER_MONITOR_INTERVAL_S),
        "--maintenance-interval",
        str(config.WORKER_MAINTENANCE_INTERVAL_S),
    ]


def requeue_jobs_of(worker_name: str, queues: Sequence[Queue]) -> list[str]:
    """Hand the jobs a dead worker was running to RQ's abandoned-job handling, now.

    RQ's `StartedJobRegistry.cleanup(timestamp)` retries (or fails) every job whose
    heartbeat expired before `timestamp`. The entries of this one worker are given
    an expired score first (each entry is `{job_id}:{execution_id}`, scored by its
    heartbeat's expiry), so exactly they are cleaned up - not a live worker's job.
    Returns the ids of the jobs handed over.
    """
    handed: list[str] = []
    for queue in queues:
        registry = queue.started_job_registry
        members: list[Any] = list(queue.connection.zrange(registry.key, 0, -1))
        mine = {}
        for member in members:
            job_id = (member.decode() if isinstance(member, bytes) else str(member)).split(":")[0]
            job = queue.fetch_job(job_id) if job_id else None
            if (
                job is not None
                and job.worker_name == worker_name
                and job.get_status(refresh=False) == JobStatus.STARTED
            ):
                mine[member] = 1
                handed.append(job_id)
        if mine:
            queue.connection.zadd(registry.key, mine, xx=True)
            registry.cleanup(timestamp=2)  # only the entries scored 1 just now
    return handed


def processes_of(worker_name: str) -> list[int]:
    """Every process started as the `rq worker` named `worker_name`: it and its work horse.

    A work horse is a fork of its worker, so it carries the same command line
    (`... rq.cli worker ... --name NAME ...`); names are random, so this finds
    exactly one worker's processes - also a horse orphaned by a killed worker.
    Linux (/proc) only; elsewhere it finds nothing.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        named = b"--name" in argv and worker_name.encode() in argv and b"worker" in argv
        # with `setproctitle` installed RQ renames its processes `rq:worker:NAME: ...`
        retitled = argv[0].startswith(b"rq:worker:" + worker_name.encode() + b":")
        if named or retitled:
            found.append(int(entry.name))
    return found


@dataclass
class _Slot:
    worker: ProcessWorker
    dead_name: str | None = None
    """Set once the worker died and until its jobs were handed over."""
    failures: int = 0
    next_start: float = 0.0
    waiting_for_redis: bool = False
    started_at: float = field(default_factory=time.monotonic)


class Supervisor:
    """N supervised `rq worker` processes on `queues` of the Redis at `url`."""

    def __init__(
        self,
        queues: Sequence[str],
        *,
        url: str,
        workers: int = 2,
        worker_class: str = COURSE_WORKER,
        inherit_output: bool = True,
    ) -> None:
        if not 1 <= workers <= 32:
            raise ValueError(f"workers must be 1-32, got {workers}")
        if not queues:
            raise ValueError("name at least one queue")
        self.url = url
        self.queue_names = list(queues)
        self.worker_class = worker_class
        self.inherit_output = inherit_output
        self.connection = redis.Redis.from_url(url, socket_connect_timeout=2)
        self.queues = [Queue(name, connection=self.connection) for name in self.queue_names]
        self.slots = [_Slot(self._new_worker()) for _ in range(workers)]
        self.replaced = 0
        self.requeued: list[str] = []
        self._stop = threading.Event()

    def _new_worker(self) -> ProcessWorker:
        return ProcessWorker(
            self.queue_names,
            url=self.url,
            worker_class=self.worker_class,
            extra_args=course_worker_args(),
            inherit_output=self.inherit_output,
        )

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers running now."""
        return [s.worker.pid for s in self.slots if s.worker.running and s.worker.pid]

    def start(self) -> Supervisor:
        for slot in self.slots:
            slot.worker.start(wait=False)
            slot.started_at = time.monotonic()
        return self

    def supervise_once(self) -> None:
        """One look at every worker: replace the dead, hand their jobs back to RQ."""
        for slot in self.slots:
            if slot.worker.running and slot.dead_name is None:
                continue
            if slot.dead_name is None:
                slot.dead_name = slot.worker.name
                self._kill_orphans(slot.dead_name)  # before its job runs elsewhere
                code = slot.worker.process.returncode if slot.worker.process else None
                log.warning("worker %s exited (code %s); replacing it", slot.dead_name, code)
                quick = time.monotonic() - slot.started_at < 10
                slot.failures = slot.failures + 1 if quick else 0
                delay = min(_RESTART_FIRST_S * 2 ** max(0, slot.failures - 1), _RESTART_MAX_S)
                slot.next_start = time.monotonic() + (delay if slot.failures else 0)
            try:
                handed = requeue_jobs_of(slot.dead_name, self.queues)
                self._forget_worker(slot.dead_name)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if not slot.waiting_for_redis:  # one line per outage
                    log.warning("queue unreachable (%s); will retry", exc)
                slot.waiting_for_redis = True
                continue
            slot.waiting_for_redis = False
            if handed:
                log.warning("worker %s: %d job(s) handed back to RQ", slot.dead_name, len(handed))
                self.requeued += handed
            if time.monotonic() < slot.next_start:
                continue
            slot.dead_name = None
            slot.worker = self._new_worker().start(wait=False)
            slot.started_at = time.monotonic()
            self.replaced += 1

    def _forget_worker(self, name: str) -> None:
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, self.connection)
        if worker is not None:
            worker.register_death()

    def _kill_orphans(self, worker_name: str) -> None:
        """Kill what is left of a dead worker: its work horse, if it outlived it."""
        for pid in processes_of(worker_name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                log.warning("killed the orphaned work horse %d of %s", pid, worker_name)

    def run(self) -> None:
        """Supervise until `stop()` (or SIGTERM/SIGINT in `main`), then stop the workers."""
        try:
            while not self._stop.wait(WORKER_SUPERVISE_S):
                self.supervise_once()
        finally:
            self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Warm shutdown: every worker finishes its current job, then exits."""
        for slot in self.slots:
            slot.worker.request_stop()
        for slot in self.slots:
            with contextlib.suppress(TimeoutError):
                slot.worker.stop(timeout)
        self.connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m stream_or_queue.jobs",
        description="Run N supervised RQ workers that survive a Redis restart and a killed worker.",
    )
    parser.add_argument("queues", nargs="+", metavar="QUEUE")
    parser.add_argument("--workers", "-n", type=int, default=2)
    parser.add_argument("--url", default=config.redis_url(), help="Redis URL (default: $REDIS_URL)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give --url or set REDIS_URL: workers in other processes need a real Redis")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s"
    )
    try:
        supervisor = Supervisor(args.queues, url=args.url, workers=args.workers)
    except ValueError as exc:
        parser.error(str(exc))
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stop())
    supervisor.start()
    log.info(
        "%d workers on %s (pids %s)",
        args.workers,
        ", ".join(args.queues),
        " ".join(str(p) for p in supervisor.pids),
    )
    supervisor.run()
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m stream_or_queue.jobs` is the entry
    raise SystemExit(main())
