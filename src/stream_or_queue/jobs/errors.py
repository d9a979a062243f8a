"""The errors the jobs API raises: each one says what was wrong and how to fix it."""

from __future__ import annotations

from rq.exceptions import NoSuchJobError

__all__ = ["InvalidJobArguments", "JobNotFound"]


class InvalidJobArguments(ValueError):
    """A job was refused at enqueue time: nothing was queued.

    Checking arguments before `enqueue` matters more for a background job than for
    a function call: a bad argument found by the worker fails minutes later, far from
    the caller who could have fixed it.
    """


class JobNotFound(NoSuchJobError, LookupError):
    """No job with this id exists (never did, or its result expired).

    A subclass of RQ's `NoSuchJobError`, so code that already catches RQ's error
    keeps working; `job_id` carries the id that was asked for.
    """

    def __init__(self, job_id: object) -> None:
        self.job_id = job_id
        super().__init__(
            f"no job with id {job_id!r}: it was never enqueued on this Redis, or its "
            "result expired (see result_ttl / failure_ttl)"
        )
