"""A long document summarised as a job: chunks, map, reduce, timing from the schedule."""

from __future__ import annotations

import itertools

import pytest

from stream_or_queue import config
from stream_or_queue.batch.summary import (
    chunk_pages,
    generate_document,
    pool_makespan_s,
    summarise_document,
)
from stream_or_queue.jobs.notify import summarize_result
from stream_or_queue.simulator import Simulator


def test_the_document_is_seeded_and_has_the_pages_asked_for() -> None:
    pages = generate_document(12, words_per_page=200, seed=3)
    assert len(pages) == 12 and pages == generate_document(12, words_per_page=200, seed=3)
    assert pages != generate_document(12, words_per_page=200, seed=4)
    assert all(len(p.split()) == 202 for p in pages)  # "Page N." + 200 words
    with pytest.raises(ValueError):
        generate_document(0)


def test_chunks_keep_whole_pages_in_order_under_the_limit() -> None:
    pages = generate_document(40, words_per_page=300)
    chunks = chunk_pages(pages, max_tokens=2_000)
    assert "\n\n".join(c.text for c in chunks) == "\n\n".join(pages)
    assert chunks[0].first_page == 1 and chunks[-1].last_page == 40
    for before, after in itertools.pairwise(chunks):
        assert after.first_page == before.last_page + 1
    assert all(c.words / config.WORDS_PER_TOKEN <= 2_000 for c in chunks)
    # a page bigger than the limit still goes out, alone
    [alone] = chunk_pages(["word " * 3_000], max_tokens=100)
    assert alone.first_page == alone.last_page == 1


def test_pool_makespan_fills_the_earliest_free_slot() -> None:
    assert pool_makespan_s([3, 1, 1, 1], 2) == 3
    assert pool_makespan_s([3, 1, 1, 1], 1) == 6
    assert pool_makespan_s([1, 1, 1, 1, 1], 2) == 3
    with pytest.raises(ValueError):
        pool_makespan_s([1], 0)


def test_map_then_reduce_and_thinking_costs_time_and_money(simulator: Simulator) -> None:
    config.set_time_scale(0.0)
    pages = generate_document(30, words_per_page=400)
    plain = summarise_document(pages, chunk_tokens=4_000, concurrency=3)
    deep = summarise_document(
        pages,
        chunk_tokens=4_000,
        concurrency=3,
        reduce_model=config.LARGE_MODEL,
        thinking_budget=2_048,
    )
    chunks = len(chunk_pages(pages, 4_000))
    assert plain["chunks"] == chunks and plain["calls"] == chunks + 1
    assert len(simulator.ledger) == 2 * (chunks + 1)
    assert plain["summary"] and not plain["summary"].startswith(("APPROVE", "REJECT"))
    assert plain["thinking_tokens"] == 0 and deep["thinking_tokens"] > 1_000
    assert deep["reduce_s"] > plain["reduce_s"] and deep["reduce_cost"] > plain["reduce_cost"]
    assert plain["map_s"] < sum(r.scheduled_total_s for r in simulator.ledger[:chunks]), (
        "three at a time beats one at a time"
    )


def test_the_notification_quotes_the_summary() -> None:
    assert summarize_result({"summary": "Short and true.", "chunks": 3}) == "Short and true."
