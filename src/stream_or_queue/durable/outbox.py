"""The receiving side of a notification: an outbox that drops duplicates by idempotency key.

No sender can make "sent exactly once" true alone: a worker can die after the mail
server accepted a message and before it recorded that it sent it, and the retry
cannot tell. Payment APIs (Stripe's `Idempotency-Key` header), webhooks and mail
pipelines solve it on the receiving side: every request carries a key that stays
the same across retries, and the receiver keeps the first request per key. This
`Outbox` is such a receiver, in Redis: `send(key, message)` delivers once per key
and counts the duplicates it dropped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from .. import config

__all__ = ["Outbox"]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Outbox:
    """A deduplicating message sink in Redis (one per `name`)."""

    name: str = "notifications"
    connection: redis.Redis | None = None

    def __post_init__(self) -> None:
        if self.connection is None:
            from ..jobs import get_redis

            self.connection = get_redis()
        self._messages = f"outbox:{self.name}:messages"
        self._duplicates = f"outbox:{self.name}:duplicates"

    @property
    def _redis(self) -> redis.Redis:
        assert self.connection is not None
        return self.connection

    def send(self, idempotency_key: str, message: dict[str, Any]) -> bool:
        """Deliver `message` unless `idempotency_key` was delivered before; True if delivered.

        Delivery is one `HSETNX`: a single command, so a sender that dies half-way
        cannot leave a message half delivered.
        """
        if not isinstance(idempotency_key, str) or not idempotency_key:
            raise ValueError("an idempotency key must be a non-empty string")
        body = json.dumps({"key": idempotency_key, "at": time.time(), "message": message})
        if self._redis.hsetnx(self._messages, idempotency_key, body):
            self._redis.expire(self._messages, config.DURABLE_KEY_TTL_S)
            return True
        self._redis.incr(self._duplicates)
        return False

    def messages(self) -> list[dict[str, Any]]:
        """Delivered messages, oldest first (each with its key and delivery time)."""
        raw: Any = self._redis.hvals(self._messages)
        return sorted((json.loads(r) for r in raw), key=lambda m: (m["at"], m["key"]))

    def count(self, key_prefix: str = "") -> int:
        """How many messages were delivered (whose key starts with `key_prefix`)."""
        keys: Any = self._redis.hkeys(self._messages)
        return sum(1 for k in keys if _text(k).startswith(key_prefix))

    @property
    def duplicates_dropped(self) -> int:
        value: Any = self._redis.get(self._duplicates)
        return int(value or 0)

    def clear(self) -> None:
        self._redis.delete(self._messages, self._duplicates)
