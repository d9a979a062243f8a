"""`DurableRun`: step memoization on RQ + Redis, the model of durable-execution engines.

Temporal, Inngest and Trigger.dev make a long workflow survive crashes the same
way: the workflow is written as ordinary code split into named *steps*; the
engine stores each step's result the moment it finishes; when the workflow runs
again after a crash, a deploy or a retry, it re-executes the code from the top,
but every step that already has a stored result returns it at once instead of
running. Only the step that was interrupted runs again.

Here the engine is RQ (which re-runs the job: `Retry`, or its abandoned-job
cleanup) plus Redis (which stores the results, keyed by job id and step name):

    from stream_or_queue.durable import DurableRun

    def report_job(topic: str) -> dict:               # an RQ job, enqueued with Retry(max=3)
        with DurableRun.current() as run:
            sources = run.step("search", search, topic)
            notes = run.step("read", read, sources)
            text = run.step("write", write, notes)
            run.once("notify", send_email, run.key("notify"), text)
            return {"text": text}

The rules that make replay correct are the engines' rules too:
- step names are unique within a run and the same on every attempt (use
  `f"read-{i}"` in a loop, never a timestamp);
- code between steps is deterministic: anything random, timed or external goes
  inside a step;
- a step returns JSON data; the caller always gets the JSON round-trip of it
  (a tuple comes back as a list on the first run *and* on a replay);
- a step may run more than once if its worker dies before the checkpoint is
  written (at-least-once), so a step with an outside effect should be idempotent
  or go through `once()`.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis

from .. import config
from .audit import AuditTrail
from .checkpoints import CheckpointCorrupted, CheckpointStore, decode, encode
from .keys import attempts_key, check_job_id, once_key

__all__ = ["CODE_VERSION_ENV", "DurableRun", "code_version"]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

T = TypeVar("T")

CODE_VERSION_ENV = "SOQ_CODE_VERSION"
"""Environment variable naming the deployed code version (recorded in the audit trail)."""


def code_version() -> str:
    """The version of the code running now: `$SOQ_CODE_VERSION`, default "v1"."""
    return os.environ.get(CODE_VERSION_ENV, "v1")


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class DurableRun:
    """One execution (attempt) of a durable job: memoized steps, once-only side effects, audit.

    Create one per execution of the job function, at its top - `DurableRun.current()`
    inside an RQ job, or `DurableRun(job_id, connection)` anywhere else. Creating it
    counts the attempt (1, 2, ...) and writes `run started` to the audit trail; using
    it as a context manager also records how the attempt ended.
    """

    def __init__(
        self,
        job_id: str,
        connection: redis.Redis | None = None,
        *,
        worker: str = "",
        retries_left: int | None = None,
        version: str | None = None,
    ) -> None:
        if connection is None:
            from ..jobs import get_redis

            connection = get_redis()
        self.job_id = check_job_id(job_id)
        self.connection = connection
        self.worker = worker
        self.version = version or code_version()
        self.retries_left = retries_left
        self.checkpoints = CheckpointStore(job_id, connection)
        self.audit = AuditTrail(job_id, connection)
        self._names: set[tuple[str, str]] = set()
        with connection.pipeline() as pipe:
            pipe.incr(attempts_key(job_id))
            pipe.expire(attempts_key(job_id), config.DURABLE_KEY_TTL_S)
            attempt, _ = pipe.execute()
        self.attempt = int(attempt)
        self._record("run", "", "started")

    @classmethod
    def current(cls, *, version: str | None = None) -> DurableRun:
        """The durable run of the RQ job being executed (its id, its worker's connection)."""
        from rq import get_current_job

        job = get_current_job()
        if job is None:
            raise RuntimeError(
                "DurableRun.current() works only inside an RQ job; "
                "elsewhere create DurableRun(job_id, connection)"
            )
        return cls(
            job.id,
            job.connection,
            worker=str(getattr(job, "worker_name", "") or ""),
            retries_left=job.retries_left,
            version=version,
        )

    # --- public API -------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The idempotency key of side effect `name`: stable across attempts, unique per job."""
        return f"{self.job_id}:{name}"

    def step(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` once per job: on a later attempt, return its checkpoint."""
        found, value, corrupted = self._lookup(name)
        if found:
            return value
        started = self._record("step", name, "started")
        try:
            result = fn(*args, **kwargs)
            stored = self._store(name, result, corrupted)
        except Exception as exc:
            self._record("step", name, "failed", start=started, error=_error_text(exc))
            raise
        self._record("step", name, "done", start=started)
        return stored

    async def astep(
        self, name: str, fn: Callable[..., Awaitable[T] | T], *args: Any, **kwargs: Any
    ) -> T:
        """`step()` for coroutine functions (and plain ones), for async job code."""
        found, value, corrupted = self._lookup(name)
        if found:
            return value
        started = self._record("step", name, "started")
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            stored = self._store(name, result, corrupted)
        except Exception as exc:
            self._record("step", name, "failed", start=started, error=_error_text(exc))
            raise
        self._record("step", name, "done", start=started)
        return stored

    def once(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Perform side effect `name` (a notification, a charge) once per job.

        Finished side effects are never repeated. If an earlier attempt died *while*
        performing it, nobody can know whether it took effect: the trail records
        `uncertain` and it runs again - pass `run.key(name)` to the receiver so that
        it can drop the duplicate (exactly-once = at-least-once + a deduplicating
        receiver; see `Outbox`).
        """
        previous = self._once_begin(name)
        if previous is not None:
            return previous[0]
        started = self._record("once", name, "started")
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self._once_failed(name, started, exc)
            raise
        return self._once_done(name, started, result)

    async def aonce(
        self, name: str, fn: Callable[..., Awaitable[T] | T], *args: Any, **kwargs: Any
    ) -> T:
        """`once()` for coroutine functions (and plain ones)."""
        previous = self._once_begin(name)
        if previous is not None:
            return previous[0]
        started = self._record("once", name, "started")
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            self._once_failed(name, started, exc)
            raise
        return self._once_done(name, started, result)

    def completed_steps(self) -> list[str]:
        """Names of the steps checkpointed so far (by this or earlier attempts)."""
        return self.checkpoints.steps()

    def finish(self) -> None:
        """Record that this attempt finished the job."""
        self._record("run", "", "finished")

    def fail(self, exc: BaseException) -> None:
        """Record that this attempt failed, and what RQ will do about it."""
        left = self.retries_left
        if left:
            retries = "1 retry" if left == 1 else f"{left} retries"
            self._record(
                "run", "", "failed", error=f"{_error_text(exc)} (RQ will retry: {retries} left)"
            )
        else:
            self._record(
                "run",
                "",
                "gave-up",
                error=f"{_error_text(exc)} (no retries left: RQ moves the job to its "
                "FailedJobRegistry)",
            )

    def __enter__(self) -> DurableRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, Exception):
            self.fail(exc)

    # --- internals ----------------------------------------------------------------------

    def _claim(self, kind: str, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {kind} name must be a non-empty string, got {name!r}")
        if (kind, name) in self._names:
            raise ValueError(
                f"{kind} {name!r} ran twice in job {self.job_id!r}: names must be unique within a "
                "run (in a loop, name each step after its position, e.g. f'read-{i}')"
            )
        self._names.add((kind, name))

    def _record(
        self, kind: str, name: str, outcome: str, *, start: float | None = None, error: str = ""
    ) -> float:
        now = time.time()
        if outcome in ("started",):
            self.audit.append(
                kind,
                name,
                self.attempt,
                outcome,
                start=now,
                worker=self.worker,
                version=self.version,
            )
        else:
            self.audit.append(
                kind,
                name,
                self.attempt,
                outcome,
                start=now if start is None else start,
                end=now,
                error=error,
                worker=self.worker,
                version=self.version,
            )
        return now

    def _lookup(self, name: str) -> tuple[bool, Any, bool]:
        """(found, value, corrupted) for step `name`; a corruption is logged and audited."""
        self._claim("step", name)
        try:
            found, value = self.checkpoints.get(name)
        except CheckpointCorrupted as exc:
            logger.warning("%s", exc)
            self._record("checkpoint", name, "corrupt", error=str(exc))
            return False, None, True
        if found:
            self._record("step", name, "skipped")
        return found, value, False

    def _store(self, name: str, result: Any, corrupted: bool) -> Any:
        if corrupted:
            return self.checkpoints.repair(name, result)
        return self.checkpoints.put(name, result)

    def _once_begin(self, name: str) -> tuple[Any] | None:
        """(result,) if side effect `name` already happened; else mark it pending."""
        self._claim("once", name)
        key = once_key(self.job_id)
        raw = self.connection.hget(key, name)
        if raw is not None:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            if text.startswith("pending:"):
                self._record(
                    "once",
                    name,
                    "uncertain",
                    error=(
                        f"attempt {text.split(':', 1)[1]} started this side effect and never "
                        f"recorded its end; running it again with idempotency key "
                        f"{self.key(name)!r}"
                    ),
                )
            else:
                try:
                    value = decode(self.job_id, name, text)
                except CheckpointCorrupted as exc:
                    self._record("once", name, "uncertain", error=str(exc))
                else:
                    self._record("once", name, "skipped")
                    return (value,)
        with self.connection.pipeline() as pipe:
            pipe.hset(key, name, f"pending:{self.attempt}")
            pipe.expire(key, config.DURABLE_KEY_TTL_S)
            pipe.execute()
        return None

    def _once_done(self, name: str, started: float, result: Any) -> Any:
        try:
            envelope = encode(name, result)
        except TypeError:  # it happened: record that, even if its result is not JSON data
            envelope = encode(name, None)
        self.connection.hset(once_key(self.job_id), name, envelope)
        self._record("once", name, "done", start=started)
        return json.loads(envelope)["result"]

    def _once_failed(self, name: str, started: float, exc: Exception) -> None:
        # It raised, so it reports that it did not happen: a retry may do it cleanly.
        self.connection.hdel(once_key(self.job_id), name)
        self._record("once", name, "failed", start=started, error=_error_text(exc))
