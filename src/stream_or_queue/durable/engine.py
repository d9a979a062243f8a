"""DBOS Transact, configured once for the course: SQLite by default, Postgres to scale out.

DBOS is a durable-execution library: it runs inside this Python process and keeps its
record of workflows, steps, events and queues in a *system database*. With no
settings that is a SQLite file in the working directory (no server, so it runs in
Binder); with `$DBOS_DATABASE_URL` set to a Postgres URL, many processes on many
machines share one record, and any of them can run queued work.

`launch()` starts the engine in this process (the one DBOS instance a process may
have; a second launch replaces the first), `shutdown()` stops it, `client()` opens a
`DBOSClient` for a process that only enqueues and watches. Every setting comes from
`config` (pinned application version, low polling intervals).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa
from dbos import DBOS, DBOSClient, DBOSConfig, Queue
from dbos._queue import QueueRateLimit

from .. import config

__all__ = [
    "EngineUnavailable",
    "alaunch",
    "aregister_queue",
    "check_record",
    "client",
    "engine_config",
    "is_launched",
    "launch",
    "redact",
    "register_course_queue",
    "register_queue",
    "shutdown",
]

DURABLE_APP_NAME = "stream_or_queue"
"""The application name DBOS records with every workflow, in this process and its clients."""

DURABLE_QUEUE_WORKER_CONCURRENCY = 4
"""Workflows one process runs at once from the course's queue (its concurrency cap)."""


class EngineUnavailable(RuntimeError):
    """The system database cannot be reached or opened: nothing ran, nothing was lost."""


def redact(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def engine_config(
    url: str | None = None,
    *,
    executor_id: str | None = None,
    app_version: str | None = None,
) -> DBOSConfig:
    """The course's DBOS settings: one place, so a notebook, a worker and a test agree."""
    cfg: DBOSConfig = {
        "name": DURABLE_APP_NAME,
        "system_database_url": url or config.durable_database_url(),
        "application_version": app_version or config.DURABLE_APP_VERSION,
        "notification_listener_polling_interval_sec": config.DURABLE_POLL_S,
        "log_level": "WARNING",  # DBOS logs every migration and launch at INFO
    }
    if executor_id is not None:
        cfg["executor_id"] = executor_id
    return cfg


def _check_reachable(url: str) -> None:
    """Fail fast with a clear message: DBOS itself retries a dead Postgres for a long time."""
    if not url.startswith("postgres"):
        return
    engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1),
        connect_args={"connect_timeout": 5},
    )
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise EngineUnavailable(
            f"cannot reach the DBOS system database at {redact(url)} ({reason}); start "
            f"Postgres or unset {config.DURABLE_DATABASE_URL_ENV} to use a local SQLite file"
        ) from None
    finally:
        engine.dispose()


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


_launched_file: Path | None = None
_running = False


def is_launched() -> bool:
    """Whether this process launched DBOS through `launch` (and has not shut it down)."""
    return _running


class _CancelledByRequest(logging.Filter):
    """Drop DBOS's error report for a workflow that was cancelled on purpose.

    A user's cancel (`DELETE /jobs/{id}`) ends the workflow; DBOS then logs the waiting
    thread's `DBOSAwaitedWorkflowCancelledError` and a "no longer owned" warning, with the
    workflow id, as if something broke. The cancel is reported by the job itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if type(error).__name__ == "DBOSAwaitedWorkflowCancelledError":
            return False
        return "is no longer owned by this execution" not in record.getMessage()


def launch(
    url: str | None = None,
    *,
    executor_id: str | None = None,
    app_version: str | None = None,
    must_exist: bool = False,
) -> None:
    """Start DBOS in this process; it recovers this executor's unfinished workflows.

    Workflows and steps must be imported (decorated) before this call. Call it from
    a script or a worker process; in a notebook cell `await alaunch()`.
    `must_exist=True` refuses to start on a SQLite file that is not there (a restart
    that silently began a fresh, empty record would forget every workflow in flight).
    """
    global _launched_file
    cfg = engine_config(url, executor_id=executor_id, app_version=app_version)
    target = str(cfg["system_database_url"])
    _check_reachable(target)
    path = _sqlite_path(target)
    if must_exist and path is not None and not path.exists():
        raise EngineUnavailable(
            f"the DBOS record {path.name} is missing: its workflows cannot be resumed. Restore "
            "the file, or launch without must_exist to start a new, empty record"
        )
    shutdown()
    dbos_logger = logging.getLogger("dbos")
    dbos_logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _CancelledByRequest) for f in dbos_logger.filters):
        dbos_logger.addFilter(_CancelledByRequest())
    DBOS(config=cfg)
    try:
        DBOS.launch()
    except Exception as exc:
        shutdown()
        reason = str(exc).splitlines()[0]
        if "locked" in reason:
            reason = "another process holds a lock on the file and DBOS gave up waiting"
        raise EngineUnavailable(
            f"DBOS could not open its system database at {redact(target)}: {reason}"
        ) from exc
    global _running
    _launched_file = path.resolve() if path is not None else None
    _running = True
    register_course_queue()


async def alaunch(
    url: str | None = None,
    *,
    executor_id: str | None = None,
    app_version: str | None = None,
    must_exist: bool = False,
) -> None:
    """`launch` for a notebook cell: DBOS's sync API refuses to run on the event loop's thread."""
    await asyncio.to_thread(
        launch, url, executor_id=executor_id, app_version=app_version, must_exist=must_exist
    )


def check_record() -> None:
    """Raise if the SQLite record this process launched on was deleted under it.

    SQLite keeps writing to a deleted file's open handle (or fails with "readonly
    database"): the work recorded there is gone, and this says so plainly.
    """
    if _launched_file is not None and not _launched_file.exists():
        raise EngineUnavailable(
            f"the DBOS record {_launched_file.name} was deleted while this process ran: the "
            "workflows recorded in it are gone. Stop this process and restore the file"
        )


def register_queue(
    name: str,
    *,
    worker_concurrency: int | None = None,
    limiter: Mapping[str, float] | None = None,
    client: DBOSClient | None = None,
) -> Queue:
    """A queue with the course's fast polling, declared by this process's DBOS or a client.

    DBOS keeps a queue's settings in its system database, and every worker process of
    the application lists the queues there about once a second and rereads a queue's
    settings on each poll: so a `DBOSClient` (a notebook, a web server) can add or
    retune a queue without restarting a worker. `worker_concurrency` caps how many of
    the queue's workflows *one process* runs at once; `limiter`
    (`{"limit": n, "period": s}`) caps how many start within any `s` seconds across
    *all* processes - the shape of a provider's rate limit.
    """
    if worker_concurrency is not None and worker_concurrency < 1:
        raise ValueError(f"worker_concurrency must be at least 1, not {worker_concurrency}")
    rate: QueueRateLimit | None = None
    if limiter is not None:
        if set(limiter) != {"limit", "period"} or limiter["limit"] < 1 or limiter["period"] <= 0:
            raise ValueError(
                f"limiter must be {{'limit': n >= 1, 'period': seconds > 0}}, not {limiter!r}"
            )
        rate = {"limit": int(limiter["limit"]), "period": float(limiter["period"])}
    register = client.register_queue if client is not None else DBOS.register_queue
    return register(
        name,
        worker_concurrency=worker_concurrency,
        limiter=rate,
        polling_interval_sec=config.DURABLE_POLL_S,
        on_conflict="always_update",
    )


async def aregister_queue(
    name: str,
    *,
    worker_concurrency: int | None = None,
    limiter: Mapping[str, float] | None = None,
    client: DBOSClient | None = None,
) -> Queue:
    """`register_queue` for a notebook cell: off the event loop's thread, as DBOS asks."""
    return await asyncio.to_thread(
        register_queue, name, worker_concurrency=worker_concurrency, limiter=limiter, client=client
    )


def register_course_queue(
    *,
    worker_concurrency: int = DURABLE_QUEUE_WORKER_CONCURRENCY,
    limiter: Mapping[str, float] | None = None,
) -> Queue:
    """The course's queue: a per-process concurrency cap, optional rate limit, fast polling."""
    return register_queue(
        config.DURABLE_QUEUE, worker_concurrency=worker_concurrency, limiter=limiter
    )


def shutdown() -> None:
    """Stop this process's DBOS (if any); unfinished workflows stay PENDING in the record."""
    global _running
    _running = False
    DBOS.destroy(destroy_registry=False)


def client(url: str | None = None) -> DBOSClient:
    """A `DBOSClient`: enqueue, watch, cancel, resume and fork without running workflows."""
    target = url or config.durable_database_url()
    _check_reachable(target)
    return DBOSClient(system_database_url=target, application_name=DURABLE_APP_NAME)
