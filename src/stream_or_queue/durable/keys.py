"""Where a durable run keeps its state in Redis: one prefix per job, one key per kind.

Every key of a run starts with `durable:{job_id}:` so that a run's whole state
(checkpoints, side-effect records, audit trail, attempt counter) can be listed,
inspected or deleted together, and expires together (`config.DURABLE_KEY_TTL_S`).
"""

from __future__ import annotations

__all__ = [
    "PREFIX",
    "attempts_key",
    "audit_key",
    "check_job_id",
    "once_key",
    "run_keys",
    "steps_key",
]

PREFIX = "durable"


def check_job_id(job_id: str) -> str:
    """A job id must be a non-empty string without ':' (it is part of every key)."""
    if not isinstance(job_id, str) or not job_id or ":" in job_id or len(job_id) > 200:
        raise ValueError(f"a durable job id must be a non-empty string without ':', got {job_id!r}")
    return job_id


def steps_key(job_id: str) -> str:
    """Hash: step name -> checkpoint envelope (JSON)."""
    return f"{PREFIX}:{job_id}:steps"


def once_key(job_id: str) -> str:
    """Hash: side-effect name -> 'pending:<attempt>' or the recorded result envelope."""
    return f"{PREFIX}:{job_id}:once"


def audit_key(job_id: str) -> str:
    """Stream: the append-only audit trail of the run."""
    return f"{PREFIX}:{job_id}:audit"


def attempts_key(job_id: str) -> str:
    """Integer: how many times the job function has started."""
    return f"{PREFIX}:{job_id}:attempts"


def run_keys(job_id: str) -> list[str]:
    return [steps_key(job_id), once_key(job_id), audit_key(job_id), attempts_key(job_id)]
