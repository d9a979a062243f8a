"""Batch at scale: 10,000 items through a loop, capped concurrency, a queue and the Batches API.

* `catalogue` - the bundled 10,000-product catalogue (generated from a seed) and `Item`;
* `validation` - reject bad rows up front, with reasons;
* `ledger` - the fate of every item, and the reconciliation table;
* `runners` - a sequential loop, and an asyncio-semaphore cap with explicit retries;
* `retries` - backoff with jitter honouring retry-after, a retry budget (tenacity);
* `queued` - RQ jobs behind `RateLimit`, with `Retry` and idempotent job ids;
* `message_batches` - submit, poll, stream results, resubmit only errored/expired;
* `nightly` - the 50M-ticket arithmetic and a nightly batch on RQ's cron
  (`rq cron stream_or_queue.batch.cron_config` in production);
* `measure`, `progress`, `charts` - what a run did, a progress bar, the plots;
* `replay` - a concurrent run replayed on simulated time from its recorded schedules.
"""

from __future__ import annotations

from .catalogue import INVALID_ROWS, Item, Product, generate_catalogue, product_item, product_prompt
from .ledger import FATES, Fate, Ledger, Reconciliation
from .measure import (
    Upstream,
    concurrency_floor_s,
    peak_in_flight,
    scheduled_by_item,
    scheduled_latencies_s,
    upstream,
)
from .message_batches import (
    BatchRound,
    BatchRun,
    SimulatorPeek,
    chunked,
    collect_results,
    run_batches,
    submit_batch,
    wait_for_batches,
)
from .progress import Progress
from .replay import Replay, replay_concurrent
from .retries import RetryBudget, async_retrying, is_retryable, retry_after_s, retrying
from .runners import RunStats, describe_error, message_text, run_concurrent, run_sequential
from .validation import Rejection, ValidationReport, validate_products

__all__ = [
    "FATES",
    "INVALID_ROWS",
    "BatchRound",
    "BatchRun",
    "Fate",
    "Item",
    "Ledger",
    "Product",
    "Progress",
    "Reconciliation",
    "Rejection",
    "Replay",
    "RetryBudget",
    "RunStats",
    "SimulatorPeek",
    "Upstream",
    "ValidationReport",
    "async_retrying",
    "chunked",
    "collect_results",
    "concurrency_floor_s",
    "describe_error",
    "generate_catalogue",
    "is_retryable",
    "message_text",
    "peak_in_flight",
    "product_item",
    "product_prompt",
    "replay_concurrent",
    "retry_after_s",
    "retrying",
    "run_batches",
    "run_concurrent",
    "run_sequential",
    "scheduled_by_item",
    "scheduled_latencies_s",
    "submit_batch",
    "upstream",
    "validate_products",
    "wait_for_batches",
]
