"""Notify when done: RQ callbacks that email the user exactly once.

Enqueue a job with `**notification_callbacks()` and an address in its meta:

    queue.enqueue(write_report, "heat pumps", meta={"notify_email": "ana@example.com"},
                  **notification_callbacks())

and RQ calls `notify_success` (or `notify_failure`) in the worker when the job
ends. Both send one email over SMTP (`jobs.mail`).

Why "exactly once" needs care: a callback can run twice. RQ runs the success
callback *before* it records the job as finished, so a worker that dies in between
leaves a "started" job that is retried - and notified - again; a retried job,
a redelivered webhook, a requeued failure do the same. Two layers make it one
email:

1. The sender claims an idempotency key in Redis with `SET key NX` before sending
   (`notify_once`): a second run finds the key and does not send. The claim is a
   lease (`NOTIFY_CLAIM_TTL_S`): a sender that dies mid-send does not block the
   retry forever, and a failed send releases it at once.
2. The message carries the same key (`X-Idempotency-Key`), and the receiving inbox
   keeps one message per key - which covers the last gap, a crash after the mail
   server accepted the message but before the key was marked "sent".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

import redis
from rq import Callback
from rq.job import Job

from .. import config
from .mail import send_email

__all__ = [
    "NOTIFY_EMAIL",
    "notification_callbacks",
    "notify_failure",
    "notify_once",
    "notify_success",
    "summarize_result",
]

NOTIFY_CLAIM_TTL_S = 60
"""A notification being sent holds its idempotency key this long (real s); if the sender
dies mid-send the claim expires and a rerun may send it."""

NOTIFY_EMAIL = "notify_email"
"""The `job.meta` key that holds the address to notify."""

log = logging.getLogger(__name__)


def notify_once(connection: redis.Redis, key: str, send: Callable[[], None]) -> bool:
    """Call `send()` unless `key` was already sent (or is being sent); True if it sent.

    The key is claimed with `SET NX` (a lease of `NOTIFY_CLAIM_TTL_S`), marked "sent"
    for `NOTIFY_SENT_TTL_S` after `send()` returns, and released if `send()` raises,
    so that a later attempt can try again.
    """
    if not key:
        raise ValueError("an idempotency key must be a non-empty string")
    marker = f"soq:notified:{key}"
    if not connection.set(marker, b"sending", nx=True, ex=NOTIFY_CLAIM_TTL_S):
        return False
    try:
        send()
    except BaseException:
        connection.delete(marker)
        raise
    connection.set(marker, b"sent", ex=config.NOTIFY_SENT_TTL_S)
    return True


def summarize_result(result: Any, limit: int = 600) -> str:
    """A few lines about a job's result, for the body of a notification."""
    if isinstance(result, dict) and "sections" in result:
        sections = result.get("sections") or []
        lines = [
            f"Report: {result.get('topic', '')}",
            f"{len(sections)} section{'s' if len(sections) != 1 else ''}, "
            f"{result.get('words', 0)} words.",
        ]
        if sections:
            first = sections[0]
            lines += ["", f"{first.get('title', '')}:", str(first.get("text", ""))]
        text = "\n".join(lines)
    elif isinstance(result, dict) and isinstance(result.get("summary"), str):
        text = result["summary"]
    else:
        text = repr(result) if not isinstance(result, str) else result
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _title(job: Job) -> str:
    title = job.meta.get("title")
    if isinstance(title, str) and title:
        return title
    return (job.func_name or "job").rpartition(".")[2].replace("_", " ")


def _record(job: Job, status: str, **details: Any) -> None:
    job.meta["notification"] = {"status": status, **details}
    job.save_meta()


def _notify(job: Job, connection: redis.Redis, event: str, subject: str, body: str) -> None:
    address = job.meta.get(NOTIFY_EMAIL)
    if not address:
        return
    key = f"job|{job.id}|{event}"

    def send() -> None:
        send_email(
            str(address), subject, body, job_id=job.id, idempotency_key=key, connection=connection
        )

    try:
        sent = notify_once(connection, key, send)
    except Exception as exc:  # the job's work is done: a failed email must not fail it
        log.warning("notification for job %s not sent: %s", job.id, exc)
        _record(job, "not sent", error=f"{type(exc).__name__}: {exc}")
        return
    if sent:  # a rerun that found the key sent changes nothing, not even the meta
        _record(job, "sent", channel="email", to=str(address))


def notify_success(
    job: Job, connection: redis.Redis, result: Any, *args: Any, **kwargs: Any
) -> None:
    """RQ `on_success` callback: email the address in `job.meta["notify_email"]`, once."""
    body = f"{summarize_result(result)}\n\nFull result: /jobs/{job.id}\n"
    _notify(job, connection, "finished", f"Ready: {_title(job)}", body)


def notify_failure(
    job: Job,
    connection: redis.Redis,
    exc_type: type[BaseException] | None = None,
    exc_value: BaseException | None = None,
    tb: TracebackType | None = None,
    *args: Any,
    **kwargs: Any,
) -> None:
    """RQ `on_failure` callback: tell the user it failed (once) - silence is worse."""
    reason = f"{exc_type.__name__}: {exc_value}" if exc_type is not None else "unknown error"
    body = (
        f"Your job failed: {reason}\n"
        "Nothing was lost: it is kept in the failed-job registry and can be retried.\n\n"
        f"Details: /jobs/{job.id}\n"
    )
    _notify(job, connection, "failed", f"Failed: {_title(job)}", body)


def notification_callbacks(timeout: int = 30) -> dict[str, Callback]:
    """`on_success` / `on_failure` keyword arguments for `Queue.enqueue`."""
    return {
        "on_success": Callback(notify_success, timeout=timeout),
        "on_failure": Callback(notify_failure, timeout=timeout),
    }
