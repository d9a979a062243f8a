"""Faults on demand, decided deterministically so that a seeded run repeats exactly."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Literal

__all__ = ["NO_FAULTS", "FaultKind", "Faults"]

FaultKind = Literal["rate_limit", "overloaded", "server_error", "stream_error", "disconnect"]


@dataclass(frozen=True)
class Faults:
    """Probabilities (0-1) of each failure, per request or per batch item.

    `rate_limit`, `overloaded` and `server_error` answer a request with 429, 529 or
    500 before any output; `stream_error` sends an `error` event part-way through a
    stream and `disconnect` drops the connection part-way (a non-streamed request
    loses its answer, and the SDK retries it). `batch_errored` makes a batch
    request end `errored`; `batch_expired` makes it wait for capacity that never
    comes, so its batch runs until the 24-hour expiry and it ends `expired`.
    """

    rate_limit: float = 0.0
    overloaded: float = 0.0
    server_error: float = 0.0
    stream_error: float = 0.0
    disconnect: float = 0.0
    batch_errored: float = 0.0
    batch_expired: float = 0.0
    retry_after_s: float = 1.0
    """Simulated seconds a 429/529 asks the client to wait (sent as retry-after-ms)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("seed",):
                continue
            if f.name == "retry_after_s":
                if not 0.0 <= value < float("inf"):
                    raise ValueError(f"retry_after_s must be a finite number >= 0, got {value}")
                continue
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be a probability between 0 and 1, got {value}")
        if self.rate_limit + self.overloaded + self.server_error > 1.0:
            raise ValueError("rate_limit + overloaded + server_error must not exceed 1")
        if self.stream_error + self.disconnect > 1.0:
            raise ValueError("stream_error + disconnect must not exceed 1")

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """Build from 'rate_limit=0.1,overloaded=0.05' (the CLI and header form)."""
        values: dict[str, float | int] = {}
        names = {f.name for f in fields(cls)}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, raw = part.partition("=")
            key = key.strip()
            if key not in names:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(names))}")
            values[key] = int(raw) if key == "seed" else float(raw)
        return cls(**values)  # type: ignore[arg-type]

    def draw(self, *parts: object) -> float:
        """A number in [0, 1) fixed by the seed and `parts` (not by call order)."""
        key = "|".join(str(p) for p in (self.seed, *parts)).encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64

    def request_fault(self, *parts: object) -> FaultKind | None:
        u = self.draw("request", *parts)
        for kind, rate in (
            ("rate_limit", self.rate_limit),
            ("overloaded", self.overloaded),
            ("server_error", self.server_error),
        ):
            if u < rate:
                return kind  # type: ignore[return-value]
            u -= rate
        return None

    def stream_fault(self, *parts: object) -> FaultKind | None:
        u = self.draw("stream", *parts)
        if u < self.stream_error:
            return "stream_error"
        if u < self.stream_error + self.disconnect:
            return "disconnect"
        return None


NO_FAULTS = Faults()
