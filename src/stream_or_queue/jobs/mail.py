"""Email over real SMTP, to a mail catcher on the loopback interface.

"We'll email you when it's ready" is the classic notification of a background job.
The course sends real SMTP (`smtplib`) to a real SMTP server (`aiosmtpd`) that
listens on 127.0.0.1 only and, instead of relaying, files every message into the
Redis `Inbox`. Swap the catcher for your provider's SMTP host and the sending code
does not change.

How a sender finds the server: `send_email(..., smtp_url=...)`, else the
`STREAM_OR_QUEUE_SMTP_URL` environment variable (`smtp://127.0.0.1:2525`), else the
address a running `MailCatcher` published in Redis - which is how a worker process, started
before the catcher, still finds it.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

import redis
from aiosmtpd.controller import Controller

from .. import config
from ..serving import free_port
from .connection import get_redis
from .inbox import Inbox, Message

__all__ = [
    "DEFAULT_SENDER",
    "MailCatcher",
    "check_address",
    "send_email",
    "smtp_address",
]

DEFAULT_SENDER = "Stream or Queue <jobs@stream-or-queue.invalid>"
ADDRESS_KEY = "soq:mail:smtp"
"""Where a running MailCatcher publishes `host:port` for senders in other processes."""
SMTP_URL_ENV = "STREAM_OR_QUEUE_SMTP_URL"
"""An SMTP server to send through (smtp://host:port), instead of a running MailCatcher."""
MAX_MESSAGE_BYTES = 1_000_000


def check_address(address: object) -> str:
    """Return `address` if it looks like one plain email address, else raise ValueError.

    Deliberately strict: one '@', no spaces or line breaks (a line break in a header
    is how mail headers get injected).
    """
    if not isinstance(address, str):
        raise ValueError(f"an email address must be a string, got {type(address).__name__}")
    local, at, domain = address.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or "@" in domain
        or any(c.isspace() for c in address)
        or len(address) > 254
    ):
        raise ValueError(f"not a valid email address: {address!r} (expected name@example.com)")
    return address


def _no_newlines(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} must not contain line breaks")
    return value


def smtp_address(
    smtp_url: str | None = None, *, connection: redis.Redis | None = None
) -> tuple[str, int]:
    """(host, port) of the SMTP server to use; RuntimeError if none is known."""
    url = smtp_url or config.env(SMTP_URL_ENV)
    if url:
        parsed = urlparse(url if "://" in url else f"smtp://{url}")
        if parsed.scheme != "smtp" or not parsed.hostname or not parsed.port:
            raise ValueError(f"SMTP URL must look like smtp://host:port, got {url!r}")
        return parsed.hostname, parsed.port
    conn = connection if connection is not None else get_redis()
    published = conn.get(ADDRESS_KEY)
    if not published:
        raise RuntimeError(
            "no SMTP server known: start a MailCatcher (jobs.MailCatcher().start()) "
            "or set STREAM_OR_QUEUE_SMTP_URL=smtp://host:port"
        )
    text = published.decode() if isinstance(published, bytes) else str(published)
    host, _, port = text.rpartition(":")
    return host, int(port)


def send_email(
    to: str,
    subject: str,
    body: str,
    *,
    job_id: str | None = None,
    idempotency_key: str | None = None,
    sender: str = DEFAULT_SENDER,
    smtp_url: str | None = None,
    connection: redis.Redis | None = None,
    timeout: float = 10.0,
) -> None:
    """Send one plain-text email over SMTP.

    `idempotency_key` travels as the `X-Idempotency-Key` header (and `job_id` as
    `X-Job-Id`): a receiver that keeps one message per key turns a retried send into
    a single delivery.
    """
    check_address(to)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = _no_newlines(subject, "subject")
    if job_id is not None:
        message["X-Job-Id"] = _no_newlines(job_id, "job_id")
    if idempotency_key is not None:
        message["X-Idempotency-Key"] = _no_newlines(idempotency_key, "idempotency_key")
    message.set_content(body)
    host, port = smtp_address(smtp_url, connection=connection)
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        smtp.send_message(message)


class _InboxHandler:
    """aiosmtpd handler: every accepted message goes into the inbox, once per key."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body_part = parsed.get_body(preferencelist=("plain",))
        body = body_part.get_content() if body_part is not None else ""
        key = parsed.get("X-Idempotency-Key")
        for rcpt in envelope.rcpt_tos:
            self.inbox.append(
                Message(
                    subject=str(parsed.get("Subject", "(no subject)")) or "(no subject)",
                    body=body.replace("\r\n", "\n").rstrip("\n"),
                    to=rcpt,
                    sender=str(parsed.get("From", envelope.mail_from)),
                    channel="email",
                    job_id=parsed.get("X-Job-Id"),
                    idempotency_key=f"{key}|{rcpt}" if key else None,
                )
            )
        self.received += 1
        return "250 Message accepted for delivery"


class MailCatcher:
    """A real SMTP server on 127.0.0.1 that files what it receives into an `Inbox`.

    `start()` is idempotent and publishes the address in Redis for senders in other
    processes; `stop()` shuts the server down and joins its thread. Also a context
    manager.
    """

    def __init__(
        self,
        inbox: Inbox | None = None,
        *,
        port: int | None = None,
        publish: bool = True,
    ) -> None:
        self.inbox = inbox if inbox is not None else Inbox()
        self.handler = _InboxHandler(self.inbox)
        self._port = port
        self.publish = publish
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the mail catcher is not running: call start() first")
        return int(self._controller.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> int:
        """Messages accepted since start (before deduplication by the inbox)."""
        return self.handler.received

    def start(self) -> MailCatcher:
        if self._controller is not None:
            return self
        last_error: OSError | None = None
        for _ in range(3):  # a free port can be taken between choosing and binding it
            controller = Controller(
                self.handler,
                hostname="127.0.0.1",
                port=self._port or free_port(),
                data_size_limit=MAX_MESSAGE_BYTES,
            )
            try:
                controller.start()
            except OSError as exc:
                last_error = exc
                continue
            self._controller = controller
            break
        else:
            raise RuntimeError(f"could not start the mail catcher: {last_error}")
        if self.publish:
            self.inbox.connection.set(ADDRESS_KEY, f"127.0.0.1:{self.port}")
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return
        if self.publish:
            address = f"127.0.0.1:{controller.port}".encode()
            if self.inbox.connection.get(ADDRESS_KEY) == address:
                self.inbox.connection.delete(ADDRESS_KEY)
        controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"MailCatcher({where}, inbox={self.inbox.name!r})"
