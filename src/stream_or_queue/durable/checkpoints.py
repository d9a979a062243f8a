"""Checkpoints: each finished step's result, stored in Redis under the job's id.

A checkpoint is a small JSON envelope `{"v": 1, "step": ..., "sha256": ..., "result": ...}`.
The checksum covers the canonical JSON of the result, so a checkpoint that was
truncated, overwritten by hand or written by incompatible code is *detected*
(`CheckpointCorrupted`, with a message that says which job, which step and what is
wrong) instead of being fed silently into the next step.

The first write wins (`HSETNX`): once a step is checkpointed, a late writer (a
worker that was presumed dead but was only slow) cannot replace the result that
later steps already used. Only `repair()` overwrites, after a corruption.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis

from .. import config
from .keys import check_job_id, steps_key

__all__ = ["CheckpointCorrupted", "CheckpointStore", "decode", "encode"]

_VERSION = 1


class CheckpointCorrupted(ValueError):
    """A stored checkpoint cannot be trusted; the step must run again."""

    def __init__(self, job_id: str, step: str, reason: str) -> None:
        self.job_id = job_id
        self.step = step
        self.reason = reason
        super().__init__(
            f"checkpoint of step {step!r} of job {job_id!r} is corrupted ({reason}); "
            "it will be ignored and the step will run again"
        )


def _canonical(result: Any, step: str) -> str:
    try:
        return json.dumps(result, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"step {step!r} returned {type(result).__name__!s}, which cannot be checkpointed as "
            f"JSON ({exc}); return plain data (dict, list, str, int, float, bool, None)"
        ) from exc


def encode(step: str, result: Any) -> str:
    """The envelope stored for `result` (raises TypeError if it is not JSON data)."""
    body = _canonical(result, step)
    digest = hashlib.sha256(body.encode()).hexdigest()
    return json.dumps({"v": _VERSION, "step": step, "sha256": digest, "result": json.loads(body)})


def decode(job_id: str, step: str, raw: bytes | str) -> Any:
    """The result stored in an envelope, or `CheckpointCorrupted` saying why not."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        envelope = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = f"not valid JSON: {exc.__class__.__name__}"
        raise CheckpointCorrupted(job_id, step, reason) from None
    if not isinstance(envelope, dict) or not {"v", "step", "sha256", "result"} <= envelope.keys():
        raise CheckpointCorrupted(job_id, step, "not a checkpoint envelope")
    if envelope["v"] != _VERSION:
        raise CheckpointCorrupted(job_id, step, f"unknown envelope version {envelope['v']!r}")
    if envelope["step"] != step:
        raise CheckpointCorrupted(job_id, step, f"it belongs to step {envelope['step']!r}")
    body = _canonical(envelope["result"], step)
    if hashlib.sha256(body.encode()).hexdigest() != envelope["sha256"]:
        raise CheckpointCorrupted(job_id, step, "checksum mismatch")
    return envelope["result"]


@dataclass
class CheckpointStore:
    """The checkpoints of one job: `get`, `put` (first write wins), `repair`, `clear`."""

    job_id: str
    connection: redis.Redis

    def __post_init__(self) -> None:
        check_job_id(self.job_id)
        self.key = steps_key(self.job_id)

    def has(self, step: str) -> bool:
        return bool(self.connection.hexists(self.key, step))

    def get(self, step: str) -> tuple[bool, Any]:
        """`(True, result)` for a valid checkpoint, `(False, None)` when there is none.

        Raises `CheckpointCorrupted` when one exists but cannot be trusted.
        """
        raw = self.connection.hget(self.key, step)
        if raw is None:
            return False, None
        return True, decode(self.job_id, step, raw)

    def put(self, step: str, result: Any) -> Any:
        """Store `result` unless the step already has a checkpoint; return the stored result."""
        envelope = encode(step, result)
        with self.connection.pipeline() as pipe:
            pipe.hsetnx(self.key, step, envelope)
            pipe.expire(self.key, config.DURABLE_KEY_TTL_S)
            created, _ = pipe.execute()
        if created:
            return json.loads(envelope)["result"]
        found, stored = self.get(step)
        return stored if found else result

    def repair(self, step: str, result: Any) -> Any:
        """Overwrite a corrupted checkpoint with a fresh result."""
        envelope = encode(step, result)
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, step, envelope)
            pipe.expire(self.key, config.DURABLE_KEY_TTL_S)
            pipe.execute()
        return json.loads(envelope)["result"]

    def steps(self) -> list[str]:
        """Names of the steps that have a checkpoint (valid or not)."""
        return sorted(
            name.decode() if isinstance(name, bytes) else name
            for name in self.connection.hkeys(self.key)
        )

    def corrupt(self, step: str, raw: str = '{"v": 1, "step": "garbled') -> None:
        """Overwrite a checkpoint with garbage: the fault-injection the course demonstrates."""
        self.connection.hset(self.key, step, raw)

    def clear(self) -> None:
        self.connection.delete(self.key)
