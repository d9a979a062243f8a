"""The Message Batches API end to end: submit, poll, stream results, retry the failures.

A batch trades latency for price and convenience: every request is billed at half
the standard price, there is no rate limit to dance around, and the API does the
retrying of its own transient failures. What it leaves to you:

* chunking: at most `config.BATCH_MAX_REQUESTS` (100,000) requests per batch;
* waiting: a batch takes minutes to hours, so poll (cheaply) and show progress;
* reading: results arrive as JSONL in any order - match them by `custom_id`;
* the leftovers: entries can end `errored` or `expired` (not processed within
  24 h). Resubmit only those, in a new batch; the ones that succeeded are done
  and, being stored under their `custom_id`, can never be delivered twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anthropic

from .. import clock, config
from .catalogue import Item
from .ledger import Ledger
from .progress import Progress
from .runners import message_text

if TYPE_CHECKING:
    from ..simulator import Simulator

__all__ = [
    "PERMANENT_ERRORS",
    "BatchRound",
    "BatchRun",
    "SimulatorPeek",
    "api_seconds",
    "chunked",
    "collect_results",
    "run_batches",
    "submit_batch",
    "wait_for_batches",
]

PERMANENT_ERRORS = frozenset(
    {
        "invalid_request_error",
        "not_found_error",
        "authentication_error",
        "permission_error",
        "request_too_large",
    }
)
"""Errored entries of these types fail the same way again: report them, do not resubmit."""


@dataclass
class BatchRound:
    """One submission of the still-pending items (possibly several batches)."""

    number: int
    submitted: int
    batch_ids: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    sim_seconds: float = 0.0  # the client's stopwatch (includes its own overhead)
    api_seconds: float = 0.0  # the API's clock: creation to end, wave after wave

    def count(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)


@dataclass
class BatchRun:
    """Every round of one `run_batches` call."""

    rounds: list[BatchRound] = field(default_factory=list)
    sim_seconds: float = 0.0

    @property
    def api_seconds(self) -> float:
        """Simulated seconds the API spent, round after round (the path's wall time)."""
        return sum(r.api_seconds for r in self.rounds)

    @property
    def batches(self) -> int:
        return sum(len(r.batch_ids) for r in self.rounds)

    @property
    def entries_submitted(self) -> int:
        return sum(r.submitted for r in self.rounds)

    def table(self) -> list[tuple[int, int, int, int, int, int]]:
        """(round, submitted, succeeded, errored, expired, canceled) per round."""
        return [
            (
                r.number,
                r.submitted,
                r.count("succeeded"),
                r.count("errored"),
                r.count("expired"),
                r.count("canceled"),
            )
            for r in self.rounds
        ]


def chunked(items: Sequence[Item], size: int = config.BATCH_MAX_REQUESTS) -> Iterator[list[Item]]:
    """Consecutive slices of at most `size` items (a batch holds at most 100,000)."""
    if not 1 <= size <= config.BATCH_MAX_REQUESTS:
        raise ValueError(f"size must be between 1 and {config.BATCH_MAX_REQUESTS:,}, got {size}")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def submit_batch(
    client: anthropic.Anthropic, items: Sequence[Item], *, ledger: Ledger | None = None
) -> str:
    """Create one batch from `items` (an attempt for each, if a ledger is given); its id."""
    batch = client.messages.batches.create(requests=[item.as_request() for item in items])  # type: ignore[misc]
    if ledger is not None:
        for item in items:
            ledger.attempt(item.custom_id)
    return batch.id


def api_seconds(batches: Sequence[Any]) -> float:
    """How long the API took for batches submitted together: creation to the last end.

    This is the API's own clock (`created_at`, `ended_at`), so it leaves out the
    client's overhead and the polling interval - at hours per batch, both noise.
    """
    ends = [b.ended_at for b in batches if b.ended_at is not None]
    if not ends:
        return 0.0
    return (max(ends) - min(b.created_at for b in batches)).total_seconds()


class SimulatorPeek:
    """Offline only: what the real API does not tell, and a way past idle hours.

    The real API reports `request_counts` only once a whole batch has ended, so a
    progress bar fed by the API alone moves batch by batch. Offline, `progress()`
    peeks at how far the simulator has got. And a batch whose last requests are
    held back until expiry sits idle until hour 24: `skip_idle()` moves that
    batch's clock to its expiry (`sim.batches.fast_forward`) and adds the skipped
    time to `skipped_s`, so that reported durations still include it.
    """

    def __init__(self, simulator: Simulator, *, skip_to_expiry: bool = True) -> None:
        self.simulator = simulator
        self.skip_to_expiry = skip_to_expiry
        self.skipped_s = 0.0

    def progress(self, batch_id: str) -> float:
        return self.simulator.batches.progress(batch_id)

    def skip_idle(self, batch_id: str) -> None:
        store = self.simulator.batches
        batch = store.get(batch_id)
        age = batch.age()
        if self.skip_to_expiry and store.progress(batch_id) >= 1.0 and age < batch.end_age():
            jump = batch.end_age() - age
            store.fast_forward(batch_id, jump)
            self.skipped_s += jump


def wait_for_batches(
    client: anthropic.Anthropic,
    batch_ids: Sequence[str],
    *,
    sizes: Sequence[int] | None = None,
    poll_every_s: float = 30.0,
    progress: Progress | None = None,
    already_done: int = 0,
    peek: SimulatorPeek | None = None,
    timeout_s: float = config.BATCH_EXPIRY_S + 3600.0,
) -> list[Any]:
    """Poll until every batch has ended (simulated seconds between polls); returns them.

    Polling is cheap (one small GET per batch) but not free: every 30-60 s is
    plenty for work that takes minutes to hours. The progress bar counts the
    requests of ended batches (`sizes`), plus, offline, what `peek` sees inside
    the others. `timeout_s` bounds the wait: a batch always ends within 24 h (it
    expires), so waiting longer means a bug.
    """
    if poll_every_s <= 0:
        raise ValueError("poll_every_s must be > 0")
    sizes = list(sizes) if sizes is not None else [0] * len(batch_ids)
    size_of = dict(zip(batch_ids, sizes, strict=True))
    pending = list(batch_ids)
    finished: dict[str, Any] = {}
    waited = 0.0
    while True:
        _poll(client, pending, finished, peek)
        if progress is not None:
            progress.set(already_done + _requests_done(size_of, finished, pending, peek))
        if not pending:
            return [finished[b] for b in batch_ids]
        if waited >= timeout_s:
            raise TimeoutError(
                f"batches {pending} had not ended after {timeout_s:,.0f} simulated s"
            )
        clock.sleep(poll_every_s)
        waited += poll_every_s


def _poll(
    client: anthropic.Anthropic,
    pending: list[str],
    finished: dict[str, Any],
    peek: SimulatorPeek | None,
) -> None:
    """Look at each pending batch once; move the ended ones from `pending` to `finished`."""
    for batch_id in list(pending):
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            finished[batch_id] = batch
            pending.remove(batch_id)
        elif peek is not None:
            peek.skip_idle(batch_id)


def _requests_done(
    size_of: dict[str, int],
    finished: dict[str, Any],
    pending: Sequence[str],
    peek: SimulatorPeek | None,
) -> int:
    """Requests of the ended batches, plus what `peek` sees done inside the others."""
    done = sum(size_of[b] for b in finished)
    if peek is not None:
        done += sum(round(peek.progress(b) * size_of[b]) for b in pending)
    return done


def collect_results(
    client: anthropic.Anthropic,
    batch_id: str,
    ledger: Ledger,
    *,
    final: bool = False,
) -> tuple[dict[str, int], list[str]]:
    """Stream a finished batch's results into the ledger.

    Returns the count per outcome and the ids worth resubmitting (errored with a
    transient error, expired, canceled). With `final=True` nothing is resubmitted:
    those ids are recorded as failed with their last error.
    """
    outcomes: dict[str, int] = {}
    retry: list[str] = []
    for entry in client.messages.batches.results(batch_id):
        custom_id, result = entry.custom_id, entry.result
        outcomes[result.type] = outcomes.get(result.type, 0) + 1
        if result.type == "succeeded":
            message = result.message
            ledger.succeed(custom_id, message_text(message), message.usage, batch=True, via="batch")
            continue
        if result.type == "errored":
            error_type = result.error.error.type
            reason = f"errored: {error_type}"
            permanent = error_type in PERMANENT_ERRORS
        else:
            reason, permanent = result.type, False
        ledger.fail(custom_id, reason, final=final or permanent)
        if not (final or permanent):
            retry.append(custom_id)
    return outcomes, retry


def run_batches(
    items: Sequence[Item],
    *,
    client: anthropic.Anthropic,
    ledger: Ledger,
    max_rounds: int = 3,
    max_per_batch: int = config.BATCH_MAX_REQUESTS,
    max_in_flight: int | None = None,
    poll_every_s: float = 30.0,
    progress: Progress | None = None,
    peek: SimulatorPeek | None = None,
) -> BatchRun:
    """Send `items` through the Batches API until each has succeeded or truly failed.

    Round 1 submits every item not already done (the ledger makes a rerun
    idempotent), in chunks of `max_per_batch`, keeping at most `max_in_flight`
    batches waiting at once; later rounds resubmit only what errored or expired.
    After `max_rounds` the rest is recorded as failed - reported, never dropped.
    `peek` (offline only) feeds the progress bar and skips idle hours; the
    skipped time is included in the reported simulated seconds.
    """
    if max_rounds < 1:
        raise ValueError("max_rounds must be >= 1")
    by_id = {item.custom_id: item for item in items}
    pending = [item for item in items if not ledger.is_done(item.custom_id)]
    rounds = _Rounds(client, ledger, max_per_batch, max_in_flight, poll_every_s, progress, peek)
    run = BatchRun()
    watch = rounds.stopwatch()
    rounds.expect(len(pending))
    for number in range(1, max_rounds + 1):
        if not pending:
            break
        current, retry = rounds.run(number, pending, final=number == max_rounds)
        run.rounds.append(current)
        pending = [by_id[custom_id] for custom_id in retry]
    run.sim_seconds = watch()
    rounds.close()
    return run


@dataclass
class _Rounds:
    """What every round of one `run_batches` call shares, and the items done so far."""

    client: anthropic.Anthropic
    ledger: Ledger
    max_per_batch: int
    max_in_flight: int | None
    poll_every_s: float
    progress: Progress | None
    peek: SimulatorPeek | None
    done: int = 0

    def stopwatch(self) -> Callable[[], float]:
        """Simulated seconds since now, including the idle hours `peek` skipped meanwhile."""
        watch = clock.Stopwatch()
        skipped_before = self._skipped()
        return lambda: watch.elapsed + self._skipped() - skipped_before

    def expect(self, count: int) -> None:
        """Make room on the progress bar for `count` items, if it has less."""
        if self.progress is not None and self.progress.total < count:
            self.progress.grow(count - self.progress.total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.set(self.done)
            self.progress.close()

    def _skipped(self) -> float:
        return self.peek.skipped_s if self.peek is not None else 0.0

    def run(
        self, number: int, pending: Sequence[Item], *, final: bool
    ) -> tuple[BatchRound, list[str]]:
        """Submit `pending` in waves of batches; the round, and the ids worth resubmitting."""
        current = BatchRound(number=number, submitted=len(pending))
        watch = self.stopwatch()
        if number > 1 and self.progress is not None:
            self.progress.grow(len(pending))
        chunks = list(chunked(pending, self.max_per_batch))
        window = self.max_in_flight or len(chunks)
        retry: list[str] = []
        for start in range(0, len(chunks), window):
            retry += self._wave(current, chunks[start : start + window], final=final)
        current.sim_seconds = watch()
        return current, retry

    def _wave(self, current: BatchRound, wave: list[list[Item]], *, final: bool) -> list[str]:
        """Batches waiting at the same time: submit, wait for all, collect; ids to resubmit."""
        ids = [submit_batch(self.client, chunk, ledger=self.ledger) for chunk in wave]
        current.batch_ids += ids
        ended = wait_for_batches(
            self.client,
            ids,
            sizes=[len(chunk) for chunk in wave],
            poll_every_s=self.poll_every_s,
            progress=self.progress,
            already_done=self.done,
            peek=self.peek,
        )
        current.api_seconds += api_seconds(ended)
        retry: list[str] = []
        for batch_id in ids:
            outcomes, again = collect_results(self.client, batch_id, self.ledger, final=final)
            for outcome, count in outcomes.items():
                current.outcomes[outcome] = current.outcomes.get(outcome, 0) + count
            retry += again
        self.done += sum(len(chunk) for chunk in wave)
        return retry
