"""The ledger accounts for every row, keeps one result per custom_id, and prices it."""

from __future__ import annotations

import pytest

from stream_or_queue import config, token_cost
from stream_or_queue.batch import Item, Ledger, Progress
from stream_or_queue.batch.validation import Rejection


def _items(n: int) -> list[Item]:
    return [Item(f"id-{i}", {"model": config.FAST_MODEL}) for i in range(n)]


def test_fates_and_reconciliation_cover_every_row() -> None:
    ledger = Ledger(_items(4), [Rejection(9, "id-9", "empty name: nothing to describe")])
    ledger.attempt("id-0")
    ledger.succeed("id-0", "ok", {"input_tokens": 10, "output_tokens": 5})
    ledger.attempt("id-1", 2)
    ledger.fail("id-1", "429 rate_limit_error")
    ledger.succeed("id-1", "ok", {"input_tokens": 10, "output_tokens": 5})
    ledger.attempt("id-2", 3)
    ledger.fail("id-2", "500 api_error", final=True)
    summary = ledger.reconcile()
    assert summary.counts == {
        "succeeded": 1,
        "retried-then-succeeded": 1,
        "rejected-invalid": 1,
        "failed": 1,
        "pending": 1,  # id-3 never ran: that is a lost item
    }
    assert summary.total_rows == 5
    assert summary.lost == 1
    assert summary.attempts == 6
    assert ledger.pending() == ["id-3"]
    assert [r.custom_id for r in ledger.failed()] == ["id-2"]
    assert "lost" in str(summary)


def test_a_second_success_is_a_duplicate_and_changes_nothing() -> None:
    ledger = Ledger(_items(1))
    assert ledger.succeed("id-0", "first", {"input_tokens": 1, "output_tokens": 1}) is True
    assert ledger.succeed("id-0", "second", {"input_tokens": 9, "output_tokens": 9}) is False
    assert ledger.texts() == {"id-0": "first"}
    assert ledger.reconcile().duplicates_ignored == 1
    assert ledger.tokens() == {"input_tokens": 1, "output_tokens": 1}


def test_unknown_ids_are_refused_and_failed_items_can_be_retried() -> None:
    ledger = Ledger(_items(1))
    with pytest.raises(KeyError):
        ledger.succeed("nope", "x", None)
    ledger.fail("id-0", "expired", final=True)
    assert ledger.retry_failed() == ["id-0"]
    assert ledger.pending() == ["id-0"]


def test_cost_at_batch_price_is_half_the_standard_price() -> None:
    ledger = Ledger(_items(2))
    usage = {"input_tokens": 1000, "output_tokens": 200}
    ledger.succeed("id-0", "a", usage, batch=True)
    ledger.succeed("id-1", "b", usage, batch=False)
    one = token_cost(1000, 200, config.FAST_MODEL)
    assert ledger.cost(batch=False) == pytest.approx(2 * one)
    assert ledger.cost(batch=True) == pytest.approx(2 * one * config.BATCH_DISCOUNT)
    assert ledger.cost() == pytest.approx(one + one * config.BATCH_DISCOUNT)


def test_progress_is_throttled_and_reports_the_end() -> None:
    seen: list[tuple[int, int]] = []
    progress = Progress(1000, "work", show=False, on_update=lambda v, t: seen.append((v, t)))
    for _ in range(1000):
        progress.advance()
    progress.close()
    assert progress.widget is None
    assert 90 <= len(seen) <= 110  # about one update per percent, not 1,000
    assert seen[-1] == (1000, 1000)
    progress.grow(500)
    assert str(progress) == "work: 1,000/1,500"
