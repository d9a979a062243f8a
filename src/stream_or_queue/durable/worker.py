"""DBOS worker processes: start them, `kill -9` them, and recover their work.

`python -m stream_or_queue.durable.worker --executor w1 [--url URL] [--version V]
[--import MODULE ...]` launches DBOS with that executor id (after importing the
modules whose workflows it should run: the course pipeline always, the research
assistant with `--import stream_or_queue.research.durable`), listens to the course
queue and runs what is enqueued there until SIGTERM. It serves every queue of the
application in the record, with that queue's limits, including a queue a client
declares while it runs (`engine.register_queue(..., client=...)`): no restart, no
flag. `WorkerProcess` drives one from Python (a test, a benchmark, a notebook):
`start()` waits until it is ready, `kill()` is a real SIGKILL (no cleanup, no
goodbye), `stop()` a graceful SIGTERM.

Who finishes a killed worker's workflows? DBOS marks a workflow with the executor
that runs it. A process that launches with the *same* executor id recovers that
executor's PENDING workflows at start (a restart, a deploy). If the executor is gone
for good, `take_over(client, executor_ids)` hands its PENDING workflows back to the
queue (`resume_workflow`), where any live worker of the same application version
picks them up; their finished steps are not run again.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import IO

from dbos import DBOSClient

from .. import config

__all__ = ["READY", "WorkerProcess", "fork_onto", "main", "take_over"]

READY = "worker ready"
START_TIMEOUT_S = 180.0  # a loaded 2-core machine took 7-18 s per boot, more under load


class WorkerProcess:
    """One `python -m stream_or_queue.durable.worker` process."""

    def __init__(
        self,
        executor_id: str,
        url: str,
        *,
        app_version: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        imports: Sequence[str] = (),
    ) -> None:
        self.executor_id = executor_id
        self.imports = list(imports)
        self.url = url
        self.app_version = app_version or config.DURABLE_APP_VERSION
        self.env = dict(env or os.environ)
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []
        self._reader: threading.Thread | None = None
        self._ready_event: threading.Event | None = None
        self.ready = False

    def start(self, *, wait: bool = True) -> WorkerProcess:
        """Start the process; `wait=False` returns at once (boot several in parallel, do
        other work meanwhile, then `wait_ready()`): a boot takes seconds, mostly imports."""
        command = [sys.executable, "-m", "stream_or_queue.durable.worker"]
        command += ["--executor", self.executor_id, "--url", self.url]
        command += ["--version", self.app_version]
        for module in self.imports:
            command += ["--import", module]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )
        self._ready_event = threading.Event()
        self._reader = threading.Thread(
            target=self._drain, args=(self.proc.stdout, self._ready_event), daemon=True
        )
        self._reader.start()
        return self.wait_ready() if wait else self

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> WorkerProcess:
        """Block until the started process says it is ready; raise if it died first."""
        if self.proc is None or self._ready_event is None:
            raise RuntimeError("worker not started")
        deadline = time.monotonic() + timeout_s
        while not self._ready_event.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"worker {self.executor_id} did not start:\n" + "\n".join(self.log[-20:])
                )
        self.ready = True
        return self

    def _drain(self, stream: IO[str] | None, ready: threading.Event) -> None:
        # Read the child's output to the end: a full pipe would block the worker.
        for line in stream or ():
            self.log.append(line.rstrip())
            if line.strip() == READY:
                ready.set()

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("worker not started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process ends between two instructions, as in a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self.proc is None:
            return
        self.proc.wait(timeout=30)
        if self._reader is not None:
            self._reader.join(timeout=5)  # the pipe ends with the process
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM: DBOS shuts down; unfinished workflows stay PENDING for a restart."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
        self._reap()


def take_over(client: DBOSClient, executor_ids: Iterable[str]) -> list[str]:
    """Re-queue the PENDING workflows of executors that are gone; returns their ids.

    `resume_workflow` moves each to the ENQUEUED state on DBOS's internal queue; a live
    executor dequeues it atomically (one runner) and replays it from its checkpoints.
    """
    ids = [
        status.workflow_id
        for status in client.list_workflows(
            status="PENDING", executor_id=list(executor_ids), load_input=False, load_output=False
        )
    ]
    for workflow_id in ids:
        client.resume_workflow(workflow_id)
    return ids


def fork_onto(client: DBOSClient, workflow_id: str, app_version: str) -> str:
    """Move an in-flight workflow onto new code after a deploy that changed the version.

    DBOS recovers a workflow only on its own application version, so work started by
    the old code waits for an old-version process. To finish it with the new code
    instead, fork it: a new workflow (new id) on `app_version` that starts after the
    last recorded step, with every earlier step's result copied, not run again. The
    original is cancelled so that an old process coming back cannot finish it too.
    """
    recorded = [int(step["function_id"]) for step in client.list_workflow_steps(workflow_id)]
    start_step = max(recorded, default=0) + 1
    client.cancel_workflow(workflow_id)
    handle = client.fork_workflow(workflow_id, start_step, application_version=app_version)
    return str(handle.get_workflow_id())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", required=True, help="executor id (same id = same worker)")
    parser.add_argument("--url", default=None, help="system database (default: config)")
    parser.add_argument("--version", default=None, help="application version (default: config)")
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module whose workflows this worker runs (repeatable)",
    )
    args = parser.parse_args(argv)

    import importlib

    from . import engine, pipeline  # noqa: F401  (registers the workflows before launch)

    for module in args.imports:
        importlib.import_module(module)  # its workflows, registered before launch

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    engine.launch(args.url, executor_id=args.executor, app_version=args.version)
    print(READY, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        engine.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
