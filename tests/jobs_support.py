"""What the job tests share besides fixtures: the `Backend` a test runs on, a job's traceback.

The fixtures themselves (`backend`, `no_leaked_threads`) are in conftest.py, so that
pytest finds them without imports; this module holds the types they hand over.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from rq.job import Job


@dataclass
class Backend:
    """The Redis a `backend` test runs on; the library finds it the way a user's code does."""

    name: str  # "fake" or "real"
    connection: redis.Redis
    url: str | None

    @property
    def real(self) -> bool:
        return self.name == "real"


def failure_text(job: Job) -> str:
    """The traceback RQ stored with a failed job's latest result."""
    result = job.latest_result()
    assert result is not None and result.exc_string is not None, f"no failure stored for {job.id}"
    return result.exc_string
