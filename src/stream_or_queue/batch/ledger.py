"""Where every item ends up: the ledger behind the reconciliation table.

Bulk work fails in small ways: a 429 here, an errored batch entry there, a row
that was never valid. The ledger records, per `custom_id`, every attempt and the
final fate, so that at the end one table accounts for every row of the input:
succeeded at the first try, retried-then-succeeded, rejected as invalid, or
failed (with its last error). Nothing may be left "pending" - that would be an
item lost.

Storing results under `custom_id` is also what makes retries safe: a second
success for the same id (a retry whose first attempt had in fact worked, a batch
result read twice) is counted as a duplicate and ignored, never stored twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..llm import cost as usage_cost
from .catalogue import Item
from .validation import Rejection

__all__ = ["FATES", "Fate", "ItemRecord", "Ledger", "Reconciliation"]

Fate = Literal["succeeded", "retried-then-succeeded", "rejected-invalid", "failed", "pending"]
FATES: tuple[Fate, ...] = (
    "succeeded",
    "retried-then-succeeded",
    "rejected-invalid",
    "failed",
    "pending",
)


@dataclass
class ItemRecord:
    """Everything the ledger knows about one item."""

    custom_id: str
    model: str = ""
    attempts: int = 0
    succeeded: bool = False
    final_failure: bool = False
    text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    batch: bool = False  # billed at the batch price
    via: str = ""  # which path delivered the result
    errors: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def fate(self) -> Fate:
        if self.succeeded:
            return "succeeded" if self.attempts <= 1 else "retried-then-succeeded"
        if self.final_failure:
            return "failed"
        return "pending"

    def usage(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass(frozen=True)
class Reconciliation:
    """Counts per fate over every input row; `lost` must be zero."""

    counts: dict[Fate, int]
    total_rows: int
    duplicates_ignored: int
    attempts: int

    @property
    def lost(self) -> int:
        """Rows the pipeline neither delivered nor reported: pending ones, or unaccounted."""
        accounted = sum(n for fate, n in self.counts.items() if fate != "pending")
        return self.total_rows - accounted

    @property
    def succeeded(self) -> int:
        return self.counts["succeeded"] + self.counts["retried-then-succeeded"]

    def rows(self) -> list[tuple[str, int]]:
        return [(fate, self.counts[fate]) for fate in FATES] + [("total rows", self.total_rows)]

    def __str__(self) -> str:
        width = max(len(f) for f in FATES) + 2
        lines = [f"{'fate':<{width}}{'rows':>8}"]
        lines += [f"{fate:<{width}}{count:>8,}" for fate, count in self.rows()]
        lines.append(f"{'lost':<{width}}{self.lost:>8,}")
        return "\n".join(lines)


class Ledger:
    """Per-item bookkeeping shared by the sequential, concurrent, queued and batch paths."""

    def __init__(self, items: Iterable[Item] = (), rejected: Iterable[Rejection] = ()) -> None:
        self._lock = threading.Lock()
        self.records: dict[str, ItemRecord] = {}
        self.rejected: list[Rejection] = []
        self.expect(items)
        self.reject(rejected)

    # --- registering the input ----------------------------------------------------------

    def expect(self, items: Iterable[Item]) -> None:
        """Register items before any work starts, so that none can go missing unnoticed."""
        with self._lock:
            for item in items:
                model = str(item.params.get("model", ""))
                self.records.setdefault(item.custom_id, ItemRecord(item.custom_id, model=model))

    def reject(self, rejections: Iterable[Rejection]) -> None:
        with self._lock:
            self.rejected.extend(rejections)

    # --- what happened ------------------------------------------------------------------------

    def _record(self, custom_id: str) -> ItemRecord:
        record = self.records.get(custom_id)
        if record is None:
            raise KeyError(f"{custom_id!r} was never registered with Ledger.expect()")
        return record

    def attempt(self, custom_id: str, count: int = 1) -> None:
        """One more request (or batch entry) was sent for this item."""
        with self._lock:
            self._record(custom_id).attempts += count

    def succeed(
        self,
        custom_id: str,
        text: str,
        usage: Any,
        *,
        batch: bool = False,
        via: str = "",
    ) -> bool:
        """Store a result; False (and a duplicate counted) if this id already succeeded."""
        with self._lock:
            record = self._record(custom_id)
            if record.succeeded:
                record.duplicates += 1
                return False
            record.succeeded = True
            record.final_failure = False
            record.text = text
            record.input_tokens = _tokens(usage, "input_tokens")
            record.output_tokens = _tokens(usage, "output_tokens")
            record.batch = batch
            record.via = via
            return True

    def fail(self, custom_id: str, error: str, *, final: bool = False) -> None:
        """Note an error; `final=True` means no more retries (the item is reported failed)."""
        with self._lock:
            record = self._record(custom_id)
            record.errors.append(error)
            if final and not record.succeeded:
                record.final_failure = True

    # --- reading it back --------------------------------------------------------------------------

    def is_done(self, custom_id: str) -> bool:
        with self._lock:
            return self._record(custom_id).succeeded

    def pending(self) -> list[str]:
        """Ids neither succeeded nor finally failed, in registration order."""
        with self._lock:
            return [r.custom_id for r in self.records.values() if r.fate == "pending"]

    def failed(self) -> list[ItemRecord]:
        with self._lock:
            return [r for r in self.records.values() if r.fate == "failed"]

    def retry_failed(self) -> list[str]:
        """Give finally-failed items another chance (e.g. in tomorrow's batch)."""
        with self._lock:
            ids = [r.custom_id for r in self.records.values() if r.fate == "failed"]
            for custom_id in ids:
                self.records[custom_id].final_failure = False
            return ids

    def fates(self) -> dict[str, Fate]:
        with self._lock:
            return {cid: r.fate for cid, r in self.records.items()}

    def texts(self) -> dict[str, str]:
        with self._lock:
            return {cid: r.text for cid, r in self.records.items() if r.succeeded}

    def reconcile(self) -> Reconciliation:
        with self._lock:
            counts: dict[Fate, int] = dict.fromkeys(FATES, 0)
            for record in self.records.values():
                counts[record.fate] += 1
            counts["rejected-invalid"] = len(self.rejected)
            return Reconciliation(
                counts=counts,
                total_rows=len(self.records) + len(self.rejected),
                duplicates_ignored=sum(r.duplicates for r in self.records.values()),
                attempts=sum(r.attempts for r in self.records.values()),
            )

    def tokens(self) -> dict[str, int]:
        with self._lock:
            done = [r for r in self.records.values() if r.succeeded]
            return {
                "input_tokens": sum(r.input_tokens for r in done),
                "output_tokens": sum(r.output_tokens for r in done),
            }

    def cost(self, *, batch: bool | None = None) -> float:
        """US dollars for the delivered results.

        `batch=None` prices each result as it was billed; True or False prices all of
        them at the batch or the standard rate (to compare the two).
        """
        with self._lock:
            done = [r for r in self.records.values() if r.succeeded]
        return sum(
            usage_cost(r.usage(), r.model, batch=r.batch if batch is None else batch) for r in done
        )


def _tokens(usage: Any, name: str) -> int:
    if usage is None:
        return 0
    if isinstance(usage, Mapping):
        return int(usage.get(name) or 0)
    return int(getattr(usage, name, 0) or 0)
