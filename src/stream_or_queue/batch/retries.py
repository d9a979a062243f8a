"""Explicit retries for bulk work: backoff with jitter, retry-after, and a budget.

The SDK already retries (2 times by default, 0.5-8 s apart, obeying retry-after):
right for a call a person is waiting on, where a short, bounded delay is the goal.
Bulk work wants something else: more attempts spread over a longer time, jitter
so that 50 workers that failed together do not come back together, a shared
*retry budget* so that an outage does not multiply the load on a struggling
upstream, and a record of every attempt. `retrying()` / `async_retrying()` build
that on tenacity; use them with the SDK's own retries off (`max_retries=0`),
otherwise the two layers multiply (3 SDK tries x 6 outer tries = 18 requests).

All waits are in simulated seconds and slept through `clock`, so a notebook can
back off for minutes in milliseconds.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import anthropic
import tenacity

from .. import clock

__all__ = [
    "RetryBudget",
    "WaitRetryAfterOrJitter",
    "async_retrying",
    "is_retryable",
    "retry_after_s",
    "retrying",
]

RETRY_BUDGET_RATIO = 0.1
"""Retries allowed per first attempt (plus a small floor): an outage must not triple traffic."""

_RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable(error: BaseException) -> bool:
    """The SDK's own rule: 408, 409, 429, any 5xx (529 included) and connection errors.

    A 400 (bad request) or 404 (unknown model) will fail the same way every time:
    retrying it only spends budget.
    """
    if isinstance(error, anthropic.APIConnectionError):  # includes timeouts
        return True
    if isinstance(error, anthropic.APIStatusError):
        return error.status_code in _RETRYABLE_STATUS or error.status_code >= 500
    return False


def retry_after_s(error: BaseException) -> float | None:
    """The wait the server asked for, in simulated seconds (None if it did not ask)."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    try:
        if raw_ms is not None:
            return clock.to_sim(float(raw_ms) / 1000.0)
        raw = headers.get("retry-after")
        return clock.to_sim(float(raw)) if raw is not None else None
    except ValueError:
        return None


class RetryBudget:
    """Retries allowed = `minimum` + `ratio` x first attempts, shared by a whole run.

    Under normal faults (a few %) the budget is never reached. In an outage, when
    every second request fails, per-request retries would double or triple the
    traffic exactly when the upstream can least take it; the budget stops
    retrying instead, and the items that could not be retried are reported as
    failed, to be picked up by the next run - never dropped.
    """

    def __init__(self, ratio: float = RETRY_BUDGET_RATIO, minimum: int = 10) -> None:
        if ratio < 0 or minimum < 0:
            raise ValueError("ratio and minimum must be >= 0")
        self.ratio = ratio
        self.minimum = minimum
        self.first_attempts = 0
        self.spent = 0
        self.denied = 0
        self._lock = threading.Lock()

    @property
    def allowed(self) -> int:
        return self.minimum + int(self.ratio * self.first_attempts)

    def record_first_attempt(self, count: int = 1) -> None:
        with self._lock:
            self.first_attempts += count

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and counted) when it is used up."""
        with self._lock:
            if self.spent < self.allowed:
                self.spent += 1
                return True
            self.denied += 1
            return False

    def __repr__(self) -> str:
        return (
            f"RetryBudget(spent={self.spent}, allowed={self.allowed}, denied={self.denied}, "
            f"first_attempts={self.first_attempts})"
        )


class WaitRetryAfterOrJitter(tenacity.wait.wait_base):
    """Full-jitter exponential backoff, but never sooner than the server's retry-after.

    The n-th retry waits a uniform draw in [0, min(cap, base x 2^n)] simulated
    seconds ("full jitter": retries of many clients spread out instead of
    arriving in waves), or the retry-after the server sent, whichever is longer.
    """

    def __init__(
        self, base_s: float = 1.0, cap_s: float = 60.0, rng: random.Random | None = None
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng or random.Random()

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** (retry_state.attempt_number - 1))
        wait = self.rng.uniform(0, ceiling)
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        asked = retry_after_s(error) if error is not None else None
        return max(wait, asked or 0.0)


class _BudgetStop(tenacity.stop.stop_base):
    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return not self.budget.try_spend()


def _options(
    attempts: int,
    base_s: float,
    cap_s: float,
    budget: RetryBudget | None,
    rng: random.Random | None,
    on_retry: Callable[[tenacity.RetryCallState], None] | None,
) -> dict[str, Any]:
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(attempts)
    if budget is not None:  # checked only when attempts remain, so no budget is wasted
        stop = tenacity.stop_any(stop, _BudgetStop(budget))
    options: dict[str, Any] = {
        "stop": stop,
        "wait": WaitRetryAfterOrJitter(base_s, cap_s, rng),
        "retry": tenacity.retry_if_exception(is_retryable),
        "reraise": True,  # the caller sees the real API error, not tenacity's wrapper
    }
    if on_retry is not None:
        options["before_sleep"] = on_retry
    return options


def retrying(
    *,
    attempts: int = 6,
    base_s: float = 1.0,
    cap_s: float = 60.0,
    budget: RetryBudget | None = None,
    rng: random.Random | None = None,
    on_retry: Callable[[tenacity.RetryCallState], None] | None = None,
) -> tenacity.Retrying:
    """A tenacity `Retrying` for SDK calls: `for attempt in retrying(): with attempt: ...`."""
    return tenacity.Retrying(
        sleep=clock.sleep, **_options(attempts, base_s, cap_s, budget, rng, on_retry)
    )


def async_retrying(
    *,
    attempts: int = 6,
    base_s: float = 1.0,
    cap_s: float = 60.0,
    budget: RetryBudget | None = None,
    rng: random.Random | None = None,
    on_retry: Callable[[tenacity.RetryCallState], None] | None = None,
) -> tenacity.AsyncRetrying:
    """The async twin of `retrying()`: `async for attempt in async_retrying(): ...`."""
    return tenacity.AsyncRetrying(
        sleep=clock.asleep, **_options(attempts, base_s, cap_s, budget, rng, on_retry)
    )
