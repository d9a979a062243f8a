"""The replay of a concurrent run follows the simulator's and the SDK's rules exactly."""

from __future__ import annotations

import asyncio

import pytest

from stream_or_queue import async_client, config
from stream_or_queue import client as sync_client
from stream_or_queue.batch import (
    Item,
    Ledger,
    RunStats,
    generate_catalogue,
    product_item,
    replay_concurrent,
    run_concurrent,
    run_sequential,
    scheduled_by_item,
    scheduled_latencies_s,
    upstream,
)
from stream_or_queue.batch.summary import pool_makespan_s
from stream_or_queue.simulator import RateLimits, Simulator


def test_a_cap_within_the_limit_is_never_refused_and_fills_the_earliest_free_slot() -> None:
    latencies = [3.0, 1.0, 1.0, 1.0, 2.5, 0.5]
    run = replay_concurrent(latencies, concurrency=2, limit=2)
    assert (run.requests, run.rate_limited, run.succeeded, run.failed) == (6, 0, 6, 0)
    assert run.seconds == pool_makespan_s(latencies, 2) == 5.5
    assert run.peak == 2 and run.lost == 0


def test_refused_requests_retry_after_the_wait_and_fail_when_retries_run_out() -> None:
    # t=0: item 0 admitted (ends 1.5), items 1 and 2 refused; t=1: both refused again;
    # t=2: item 1 admitted (ends 3.5), item 2 refused a third time and fails.
    run = replay_concurrent([1.5, 1.5, 1.5], concurrency=3, limit=1, retry_after_s=1.0)
    assert (run.requests, run.rate_limited) == (7, 5)
    assert (run.succeeded, run.failed, run.lost) == (2, 1, 0)
    assert run.seconds == 3.5 and run.peak == 1


def test_an_answer_ending_as_a_retry_arrives_frees_its_slot_first() -> None:
    run = replay_concurrent([1.0, 1.0], concurrency=2, limit=1, retry_after_s=1.0)
    assert (run.requests, run.rate_limited, run.succeeded, run.seconds) == (3, 1, 2, 2.0)


def test_a_waiting_retry_holds_its_slot_and_a_failure_frees_it() -> None:
    # Concurrency 2: item 1 is refused and, without retries, fails at once, which
    # lets item 2 start (and be refused) while item 0 still runs.
    run = replay_concurrent([5.0, 1.0, 1.0], concurrency=2, limit=1, max_retries=0)
    assert (run.requests, run.succeeded, run.failed, run.seconds) == (3, 1, 2, 5.0)
    # With a retry 1 s later, item 1 holds the second slot until it fails at t=1,
    # and item 2 arrives only then.
    held = replay_concurrent([5.0, 1.0, 1.0], concurrency=2, limit=1, max_retries=1)
    assert (held.requests, held.rate_limited, held.failed) == (5, 4, 2)


def test_no_limit_means_every_request_gets_through() -> None:
    run = replay_concurrent([1.0] * 10, concurrency=10)
    assert (run.requests, run.rate_limited, run.seconds, run.peak) == (10, 0, 1.0, 10)
    assert replay_concurrent([], concurrency=3).seconds == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"concurrency": 0},
        {"concurrency": 1, "limit": 0},
        {"concurrency": 1, "retry_after_s": -1.0},
        {"concurrency": 1, "max_retries": -1},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        replay_concurrent([1.0], **kwargs)  # type: ignore[arg-type]


def _items(count: int) -> list[Item]:
    return [product_item(p) for p in generate_catalogue()[:count]]


def test_a_real_capped_run_records_each_items_schedule_and_matches_its_replay() -> None:
    items = _items(40)
    simulator = Simulator(seed=4, limits=RateLimits(max_concurrency=8))
    ledger = Ledger(items)

    async def run() -> RunStats:
        async with async_client(simulator=simulator) as api:
            return await run_concurrent(items, client=api, ledger=ledger, concurrency=8, attempts=1)

    with config.time_scale_set_to(0):
        stats = asyncio.run(run())
    schedule = scheduled_by_item(simulator, stats.request_ids)
    assert set(schedule) == {item.custom_id for item in items}
    assert sorted(schedule.values()) == sorted(scheduled_latencies_s(simulator))
    seen = upstream(simulator)
    replay = replay_concurrent([schedule[item.custom_id] for item in items], concurrency=8, limit=8)
    assert (replay.requests, replay.rate_limited) == (seen.requests, seen.rate_limited) == (40, 0)
    assert replay.succeeded == ledger.reconcile().succeeded == 40


def test_the_loop_records_request_ids_in_order_and_unknown_ids_are_an_error() -> None:
    items = _items(3)
    simulator = Simulator(seed=5)
    with config.time_scale_set_to(0):
        stats = run_sequential(items, client=sync_client(simulator=simulator), ledger=Ledger(items))
    schedule = scheduled_by_item(simulator, stats.request_ids)
    assert list(schedule.values()) == scheduled_latencies_s(simulator)
    with pytest.raises(KeyError, match="P-"):
        scheduled_by_item(Simulator(seed=5), stats.request_ids)
