"""The nightly batch for `rq cron`: `rq cron stream_or_queue.batch.cron_config`.

Production runs the scheduler as its own process next to the workers (real
Redis, REDIS_URL): `rq cron` loads this module, which registers the job with
RQ's global cron registry, and enqueues it at `config.NIGHTLY_CRON`. A worker
on the `nightly` queue (`rq worker nightly`) runs it. The notebook registers
the same job on a `CronScheduler` it holds (`nightly.schedule_nightly`).
"""

from __future__ import annotations

from rq import cron

from .. import config
from .nightly import nightly_classify

__all__: list[str] = []

cron.register(
    nightly_classify,
    queue_name="nightly",
    cron=config.NIGHTLY_CRON,
    kwargs={"total": 5_000, "max_per_batch": 1_000, "max_queued": 2_000},
    job_timeout=config.NIGHTLY_JOB_TIMEOUT_S,
    name="nightly-classify",
)
