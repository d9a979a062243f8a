"""Two ways to call the Messages API once per item: one at a time, or many at once.

`run_sequential` is the loop everyone writes first: correct, and at ~1 s per item,
10,000 items take hours. `run_concurrent` keeps up to `concurrency` requests in
flight with an `asyncio.Semaphore` - the cap is what keeps a bulk job from
hammering the API (and from collecting 429s) - and retries failures with
backoff and jitter outside the semaphore, so that a waiting retry does not hold
a slot. Both record every attempt and every outcome in a `Ledger`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import tenacity

from .. import clock, config
from .catalogue import Item
from .ledger import Ledger
from .progress import Progress
from .retries import RetryBudget, async_retrying

__all__ = ["RunStats", "describe_error", "message_text", "run_concurrent", "run_sequential"]


@dataclass
class RunStats:
    """What one run did, as the calling code saw it (times in simulated seconds)."""

    path: str
    items: int
    concurrency: int
    sim_seconds: float = 0.0
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    request_ids: dict[str, str] = field(default_factory=dict)
    """custom_id -> the request id of its answer (`message._request_id`): the key to
    the answer's schedule in the simulator's ledger (`measure.scheduled_by_item`)."""

    def note_answer(self, custom_id: str, message: Any) -> None:
        request_id = getattr(message, "_request_id", None)
        if request_id:
            self.request_ids[custom_id] = request_id

    def note_error(self, error: BaseException) -> None:
        key = describe_error(error)
        self.errors[key] = self.errors.get(key, 0) + 1


def message_text(message: Any) -> str:
    """The text of a Message (all text blocks joined)."""
    return "".join(getattr(b, "text", "") for b in message.content if b.type == "text")


def describe_error(error: BaseException) -> str:
    """A short, stable label: '429 rate_limit_error', 'connection error', ..."""
    if isinstance(error, anthropic.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
        return f"{error.status_code} {detail.get('type', type(error).__name__)}"
    if isinstance(error, anthropic.APIConnectionError):
        return "connection error"
    return type(error).__name__


def run_sequential(
    items: Sequence[Item],
    *,
    client: anthropic.Anthropic,
    ledger: Ledger,
    progress: Progress | None = None,
) -> RunStats:
    """One request after another; the SDK's own retries are the only retries."""
    stats = RunStats("sequential", len(items), 1)
    watch = clock.Stopwatch()
    for item in items:
        ledger.attempt(item.custom_id)
        stats.attempts += 1
        started = time.perf_counter()
        try:
            message = client.messages.create(**item.params)
        except anthropic.APIError as error:
            stats.note_error(error)
            stats.failed += 1
            ledger.fail(item.custom_id, describe_error(error), final=True)
        else:
            stats.latencies_s.append(clock.to_sim(time.perf_counter() - started))
            stats.output_tokens.append(message.usage.output_tokens)
            stats.succeeded += 1
            stats.note_answer(item.custom_id, message)
            ledger.succeed(item.custom_id, message_text(message), message.usage, via="sequential")
        if progress is not None:
            progress.advance()
    stats.sim_seconds = watch.elapsed
    if progress is not None:
        progress.close()
    return stats


async def run_concurrent(
    items: Sequence[Item],
    *,
    client: anthropic.AsyncAnthropic,
    ledger: Ledger,
    concurrency: int = config.BATCH_CONCURRENCY,
    attempts: int = 6,
    budget: RetryBudget | None = None,
    base_s: float = 1.0,
    cap_s: float = 60.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> RunStats:
    """Up to `concurrency` requests in flight; up to `attempts` tries per item.

    `attempts=1` leaves retrying to the SDK (its `max_retries`); with more, create
    the client with `max_retries=0` so that the two layers do not multiply.
    Items that run out of attempts (or of `budget`) are recorded as failed.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    stats = RunStats("concurrent", len(items), concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    rng = random.Random(f"jitter-{seed}")

    async def one(item: Item) -> None:
        custom_id = item.custom_id

        def on_retry(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            if error is not None:
                ledger.fail(custom_id, describe_error(error))

        if budget is not None:
            budget.record_first_attempt()
        try:
            async for attempt in async_retrying(
                attempts=attempts,
                budget=budget,
                base_s=base_s,
                cap_s=cap_s,
                rng=rng,
                on_retry=on_retry,
            ):
                with attempt:
                    async with semaphore:  # a slot only while a request is in flight
                        ledger.attempt(custom_id)
                        stats.attempts += 1
                        started = time.perf_counter()
                        try:
                            message = await client.messages.create(**item.params)
                        except anthropic.APIError as error:
                            stats.note_error(error)
                            raise
                        stats.latencies_s.append(clock.to_sim(time.perf_counter() - started))
        except anthropic.APIError as error:
            stats.failed += 1
            ledger.fail(custom_id, describe_error(error), final=True)
        else:
            stats.succeeded += 1
            stats.output_tokens.append(message.usage.output_tokens)
            stats.note_answer(custom_id, message)
            ledger.succeed(custom_id, message_text(message), message.usage, via="concurrent")
        if progress is not None:
            progress.advance()

    watch = clock.Stopwatch()
    await asyncio.gather(*(one(item) for item in items))
    stats.sim_seconds = watch.elapsed
    if progress is not None:
        progress.close()
    return stats
