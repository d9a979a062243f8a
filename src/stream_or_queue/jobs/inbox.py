"""An inbox in Redis: where "we'll let you know when it's done" lands.

The mail catcher (`jobs.mail`) and the webhook receiver (`jobs.hooks`) append what
they receive here; the `widgets.Inbox` widget and the web service read it. Because
it lives in Redis, a worker process, the notebook and the web app all see the same
inbox, and it survives a kernel restart.

Delivery is deduplicated on the receiving side: a message may carry an idempotency
key (the sender keeps it the same across retries), and `append` keeps only the
first message per key. That is what makes "exactly once" true even when a sender
crashes after sending and before recording that it sent.
"""

from __future__ import annotations

import builtins
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import redis

from .. import config
from .connection import get_redis

__all__ = ["Channel", "Inbox", "Message"]

Channel = Literal["email", "webhook", "callback"]

SUBJECT_MAX_CHARS = 300
BODY_MAX_CHARS = 100_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Message:
    """One notification as the recipient sees it."""

    subject: str
    body: str = ""
    to: str = ""
    sender: str = ""
    channel: Channel = "email"
    job_id: str | None = None
    idempotency_key: str | None = None
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    received_at: float = field(default_factory=time.time)
    read: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Message:
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class Inbox:
    """A list of `Message`s in Redis, newest last, with read flags.

    `append` adds (once per idempotency key), `list` reads, `read(id)` marks one
    read and returns it, `unread_count` counts, `clear` empties. All keys live under
    `soq:inbox:<name>:`, so separate inboxes (a lab's, a test's) do not mix.
    """

    def __init__(self, name: str = "default", *, connection: redis.Redis | None = None) -> None:
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"inbox name must be letters, digits, '-' or '_', got {name!r}")
        self.name = name
        self.connection = connection if connection is not None else get_redis()
        prefix = f"soq:inbox:{name}"
        self._messages = f"{prefix}:messages"
        self._read = f"{prefix}:read"
        self._keys = f"{prefix}:keys"
        self._duplicates = f"{prefix}:duplicates"

    def __repr__(self) -> str:
        return f"Inbox({self.name!r})"

    # --- writing ----------------------------------------------------------------------

    def append(self, message: Message) -> bool:
        """Store `message`; False (and nothing stored) if its idempotency key was seen."""
        if not isinstance(message, Message):
            raise TypeError(f"expected a Message, got {type(message).__name__}")
        if not message.subject or len(message.subject) > SUBJECT_MAX_CHARS:
            raise ValueError(f"subject must be 1-{SUBJECT_MAX_CHARS} characters")
        if len(message.body) > BODY_MAX_CHARS:
            raise ValueError(f"body must be at most {BODY_MAX_CHARS} characters")
        key = message.idempotency_key
        if key is not None and not self.connection.hsetnx(self._keys, key, message.id):
            self.connection.incr(self._duplicates)
            return False
        with self.connection.pipeline() as pipe:
            pipe.rpush(self._messages, json.dumps(message.as_dict()))
            pipe.ltrim(self._messages, -config.INBOX_MAX_MESSAGES, -1)
            pipe.execute()
        return True

    def read(self, message_id: str) -> Message:
        """Mark one message read and return it; KeyError if there is no such message."""
        for message in self._iter():
            if message.id == message_id:
                self.connection.sadd(self._read, message_id)
                return replace(message, read=True)
        raise KeyError(f"no message with id {message_id!r} in {self!r}")

    def clear(self) -> None:
        self.connection.delete(self._messages, self._read, self._keys, self._duplicates)

    # --- reading -----------------------------------------------------------------------

    def _iter(self) -> Iterator[Message]:
        for raw in self.connection.lrange(self._messages, 0, -1):
            yield Message.from_json(raw)

    def list(
        self, *, to: str | None = None, job_id: str | None = None, unread_only: bool = False
    ) -> builtins.list[Message]:
        """Messages, oldest first, optionally only those to `to`, about `job_id`, or unread."""
        read_ids = {_text(m) for m in self.connection.smembers(self._read)}
        out = []
        for message in self._iter():
            is_read = message.id in read_ids
            if to is not None and message.to != to:
                continue
            if job_id is not None and message.job_id != job_id:
                continue
            if unread_only and is_read:
                continue
            out.append(replace(message, read=is_read))
        return out

    def __len__(self) -> int:
        return int(self.connection.llen(self._messages))

    def unread_count(self) -> int:
        return len(self.list(unread_only=True))

    @property
    def duplicates_dropped(self) -> int:
        """Messages refused because their idempotency key had been delivered already."""
        return int(self.connection.get(self._duplicates) or 0)
