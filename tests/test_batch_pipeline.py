"""End to end with faults: every valid item succeeds exactly once, on every path.

The simulator plays the API with 10% request faults (429, 529, 500) and 1% of
batch entries errored (plus some expired); the real SDK, real RQ workers and the
course's pipelines run against it.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
from collections.abc import Iterator

import pytest
import redis
from rq.cron import CronScheduler
from rq.job import Job

from stream_or_queue import async_client, client, config
from stream_or_queue.batch import (
    Item,
    Ledger,
    Progress,
    RetryBudget,
    SimulatorPeek,
    concurrency_floor_s,
    generate_catalogue,
    peak_in_flight,
    product_item,
    run_batches,
    run_concurrent,
    run_sequential,
    scheduled_latencies_s,
    upstream,
    validate_products,
)
from stream_or_queue.batch.nightly import (
    LABELS_KEY,
    fire_now,
    generate_tickets,
    next_runs,
    plan_nightly,
    schedule_nightly,
)
from stream_or_queue.batch.queued import (
    collect_jobs,
    enqueue_items,
    follow_job,
    start_workers,
    stop_workers,
)
from stream_or_queue.jobs import get_queue, get_redis
from stream_or_queue.simulator import Faults, RateLimits, Simulator, reset_default_simulator

REQUEST_FAULTS = {"rate_limit": 0.04, "overloaded": 0.03, "server_error": 0.03}  # 10% in all


@pytest.fixture
def faulty() -> Iterator[Simulator]:
    """Time scale 0 (no waiting) and a simulator with every kind of fault."""
    config.set_time_scale(0.0)
    sim = reset_default_simulator(
        Simulator(
            seed=5, faults=Faults(**REQUEST_FAULTS, batch_errored=0.01, batch_expired=0.005, seed=5)
        )
    )
    yield sim
    reset_default_simulator()


def _catalogue(rows: int) -> tuple[list[Item], Ledger]:
    invalid = {17: "empty name", 401: "oversized text", 777: "duplicate id", 1500: "empty name"}
    report = validate_products(generate_catalogue(rows, seed=1, invalid=invalid))
    items = [product_item(p) for p in report.valid]
    return items, Ledger(items, report.rejected)


def _succeeded_entries(sim: Simulator, batch_ids: list[str]) -> collections.Counter[str]:
    """How many times the API delivered a success for each custom_id, over all batches."""
    seen: collections.Counter[str] = collections.Counter()
    for batch_id in batch_ids:
        for line in sim.batches.results(batch_id).splitlines():
            entry = json.loads(line)
            if entry["result"]["type"] == "succeeded":
                seen[entry["custom_id"]] += 1
    return seen


def test_batch_pipeline_delivers_every_valid_item_exactly_once(faulty: Simulator) -> None:
    items, ledger = _catalogue(2_000)
    progress = Progress(len(items), show=False)
    run = run_batches(
        items,
        client=client(),
        ledger=ledger,
        max_per_batch=700,
        progress=progress,
        peek=SimulatorPeek(faulty),
    )

    first = run.rounds[0]
    assert len(first.batch_ids) == 3  # 1,996 items in chunks of at most 700
    assert first.count("errored") > 0 and first.count("expired") > 0
    # later rounds resubmit only what errored or expired
    assert run.rounds[1].submitted == first.count("errored") + first.count("expired")

    summary = ledger.reconcile()
    assert summary.total_rows == 2_000
    assert summary.counts["rejected-invalid"] == 4
    assert summary.counts["failed"] == 0 and summary.lost == 0
    assert summary.succeeded == len(items) == 1_996
    assert summary.counts["retried-then-succeeded"] == run.rounds[1].submitted
    assert summary.duplicates_ignored == 0

    batch_ids = [b for r in run.rounds for b in r.batch_ids]
    delivered = _succeeded_entries(faulty, batch_ids)
    assert set(delivered) == {i.custom_id for i in items}
    assert set(delivered.values()) == {1}  # exactly once, from the API's side too
    assert progress.value == progress.total
    # the API's clock: held (expired) entries keep round 1 open until hour 24
    assert first.api_seconds == pytest.approx(config.BATCH_EXPIRY_S, abs=5.0)
    assert run.api_seconds > first.api_seconds


def test_charts_draw_every_path() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stream_or_queue.batch.charts import PathResult, compare_paths, cost_chart

    paths = [
        PathResult("loop", 8000.0, 100, 0, 0, 0, 3.0),
        PathResult("batch", 90000.0, 101, 0, 0, 0, 1.5),
    ]
    figure = compare_paths(paths, title="t")
    assert len(figure.axes) == 3
    assert "50%" in cost_chart(3.0, 1.5, items=100, model=config.FAST_MODEL).axes[0].get_title()
    plt.close("all")


def test_permanent_errors_are_reported_not_retried(faulty: Simulator) -> None:
    good = [product_item(p) for p in generate_catalogue(20, invalid={})]
    bad = Item("bad-model", {**good[0].params, "model": "claude-nonexistent"})
    ledger = Ledger([*good, bad])
    run = run_batches([*good, bad], client=client(), ledger=ledger)
    fates = ledger.fates()
    assert fates["bad-model"] == "failed"
    assert ledger.records["bad-model"].attempts == 1  # never resubmitted
    assert "not_found_error" in ledger.records["bad-model"].errors[-1]
    assert all(r.submitted < 21 for r in run.rounds[1:])
    assert ledger.reconcile().lost == 0


def test_what_is_still_failing_after_the_last_round_is_failed_not_lost() -> None:
    config.set_time_scale(0.0)
    sim = reset_default_simulator(Simulator(seed=3, faults=Faults(batch_errored=1.0)))
    try:
        items = [product_item(p) for p in generate_catalogue(10, invalid={})]
        ledger = Ledger(items)
        run = run_batches(items, client=client(), ledger=ledger, max_rounds=2)
        assert [r.submitted for r in run.rounds] == [10, 10]
        summary = ledger.reconcile()
        assert summary.counts["failed"] == 10 and summary.lost == 0
        assert ledger.records[items[0].custom_id].errors == ["errored: api_error"] * 2
        assert sim.batches.get(run.rounds[0].batch_ids[0]).size == 10
    finally:
        reset_default_simulator()


def test_rerunning_the_batch_pipeline_submits_nothing_twice(faulty: Simulator) -> None:
    items, ledger = _catalogue(300)
    run_batches(items, client=client(), ledger=ledger, peek=SimulatorPeek(faulty))
    texts = ledger.texts()
    again = run_batches(items, client=client(), ledger=ledger)
    assert again.rounds == [] and again.entries_submitted == 0
    assert ledger.texts() == texts


def test_capped_concurrency_with_faults_and_a_rate_limit(faulty: Simulator) -> None:
    faulty.limits = RateLimits(max_concurrency=8)
    items, ledger = _catalogue(400)
    mark = len(faulty.ledger)
    stats = asyncio.run(
        run_concurrent(
            items,
            client=async_client(max_retries=0),
            ledger=ledger,
            concurrency=8,
            attempts=8,
            base_s=0.0,
            budget=RetryBudget(ratio=0.5),
        )
    )
    seen = upstream(faulty, mark)
    summary = ledger.reconcile()
    assert summary.counts["failed"] == 0
    assert summary.lost == 0 and summary.duplicates_ignored == 0
    assert stats.succeeded == seen.ok == len(items)  # one success per item at the API
    assert seen.rate_limited + seen.overloaded + seen.server_errors == seen.requests - seen.ok > 0
    assert summary.counts["retried-then-succeeded"] > 0
    assert stats.attempts == seen.requests  # no hidden SDK retries with max_retries=0
    assert peak_in_flight(faulty, mark) <= 8
    assert concurrency_floor_s(scheduled_latencies_s(faulty, mark), 8) > 0


def test_an_uncapped_client_collects_429s_that_a_capped_one_avoids() -> None:
    config.set_time_scale(0.002)
    sim = reset_default_simulator(Simulator(seed=4, limits=RateLimits(max_concurrency=10)))
    try:
        items = [product_item(p) for p in generate_catalogue(60, invalid={})]
        results = {}
        for cap in (10, 60):
            mark = len(sim.ledger)
            ledger = Ledger(items)
            asyncio.run(
                run_concurrent(
                    items,
                    client=async_client(max_retries=0),
                    ledger=ledger,
                    concurrency=cap,
                    attempts=20,
                    base_s=0.1,
                    cap_s=1.0,
                )
            )
            results[cap] = (upstream(sim, mark), ledger.reconcile())
        assert results[10][0].rate_limited == 0
        assert results[60][0].rate_limited > 0
        assert all(r.lost == 0 and r.succeeded == 60 for _, r in results.values())
    finally:
        reset_default_simulator()


def test_budget_exhaustion_fails_items_visibly() -> None:
    config.set_time_scale(0.0)
    sim = reset_default_simulator(Simulator(seed=6, faults=Faults(overloaded=0.5)))
    try:
        items = [product_item(p) for p in generate_catalogue(200, invalid={})]
        ledger = Ledger(items)
        budget = RetryBudget(ratio=0.1, minimum=5)
        stats = asyncio.run(
            run_concurrent(
                items,
                client=async_client(max_retries=0),
                ledger=ledger,
                concurrency=20,
                attempts=10,
                base_s=0.0,
                budget=budget,
            )
        )
        summary = ledger.reconcile()
        assert budget.spent == budget.allowed == 25 and budget.denied > 0
        assert stats.attempts == 200 + budget.spent == upstream(sim).requests
        assert summary.counts["failed"] > 0 and summary.lost == 0
        assert summary.counts["failed"] + summary.succeeded == 200
    finally:
        reset_default_simulator()


def test_sequential_loop_relies_on_sdk_retries(faulty: Simulator) -> None:
    items, ledger = _catalogue(60)
    stats = run_sequential(items, client=client(max_retries=4), ledger=ledger)
    seen = upstream(faulty)
    assert stats.succeeded == len(items) == seen.ok
    assert seen.requests > seen.ok  # the SDK retried faults the loop never saw
    assert ledger.reconcile().counts["retried-then-succeeded"] == 0


@pytest.mark.slow
def test_queued_path_caps_concurrency_with_rq_ratelimit(fake_redis: redis.Redis) -> None:
    config.set_time_scale(0.01)
    sim = reset_default_simulator(
        Simulator(
            seed=7, limits=RateLimits(max_concurrency=3), faults=Faults(server_error=0.1, seed=7)
        )
    )
    try:
        items = [product_item(p) for p in generate_catalogue(40, invalid={})]
        ledger = Ledger(items)
        queue = get_queue("batch-test")
        workers = start_workers("batch-test", 5)
        try:
            jobs = enqueue_items(queue, items, concurrency=3, ledger=ledger)
            again = enqueue_items(queue, items[:10], concurrency=3, ledger=ledger)
            assert [j.id for j in again] == [j.id for j in jobs[:10]]  # idempotent by id
            statuses = collect_jobs(jobs, ledger, connection=get_redis(), poll_every_s=5.0)
        finally:
            stop_workers(workers)
        assert statuses == {"finished": 40}
        assert upstream(sim).rate_limited == 0
        assert peak_in_flight(sim) <= 3
        summary = ledger.reconcile()
        assert summary.succeeded == 40 and summary.lost == 0
        assert len(queue.connection.keys("rq:job:item-*")) == 40
    finally:
        reset_default_simulator()


def test_nightly_plan_arithmetic() -> None:
    plan = plan_nightly(50_000_000, input_tokens_per_item=50, output_tokens_per_item=3)
    assert plan.batches == 500
    assert plan.batches_per_wave == config.NIGHTLY_MAX_QUEUED_REQUESTS // 100_000
    assert plan.waves == 500 // plan.batches_per_wave
    assert plan.wave_s == config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S * 100_000
    assert plan.nights * plan.waves_per_night >= plan.waves
    assert plan.batch_cost == pytest.approx(plan.standard_cost * config.BATCH_DISCOUNT)
    assert plan.standard_cost == pytest.approx(50e6 * (50 * 1.0 + 3 * 5.0) / 1e6)
    with pytest.raises(ValueError):
        plan_nightly(10, input_tokens_per_item=1, output_tokens_per_item=1, max_per_batch=200_000)
    assert [d.day for d in next_runs("0 2 * * *", dt.datetime(2026, 1, 1, 12))] == [2, 3, 4]


@pytest.mark.slow
def test_nightly_job_fires_from_rq_cron_and_is_idempotent(fake_redis: redis.Redis) -> None:
    config.set_time_scale(0.0005)
    reset_default_simulator(Simulator(seed=8, faults=Faults(batch_errored=0.02, seed=8)))
    try:
        connection = get_redis()
        scheduler = CronScheduler(connection=connection, logging_level="WARNING")
        cron_job = schedule_nightly(
            scheduler,
            queue_name="nightly-test",
            total=600,
            max_per_batch=200,
            max_queued=400,
            poll_every_s=20.0,
        )
        reports = []
        workers = start_workers("nightly-test", 1)
        try:
            for _ in range(2):
                assert fire_now(scheduler) == [cron_job]
                job = Job.fetch(cron_job.get_job_ids(connection)[0], connection=connection)
                progress = Progress(600, show=False)
                reports.append(follow_job(job, progress=progress, poll_every_s=60.0))
                if len(reports) == 1:  # the bar followed the job's meta to the end
                    assert progress.value == progress.total > 600
        finally:
            stop_workers(workers)
        first, second = reports
        assert first["labelled"] == 600 and first["lost"] == 0 and first["failed"] == 0
        assert first["batches"] >= 3 and first["rounds"] >= 2
        # two waves (two 200-request batches, then one; 130 simulated s each), then retries
        assert (
            first["api_seconds"]
            >= 2 * (config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S * 200)
            + config.BATCH_BASE_PROCESSING_S
        )
        assert second["already_labelled"] == 600 and second["submitted"] == 0
        labels = connection.hgetall(LABELS_KEY)
        assert {k.decode() for k in labels if isinstance(k, bytes)} == {
            t.id for t in generate_tickets(600)
        }
    finally:
        reset_default_simulator()


def test_cron_config_module_registers_the_nightly_job(fake_redis: redis.Redis) -> None:
    scheduler = CronScheduler(connection=get_redis(), logging_level="WARNING")
    scheduler.load_config_from_file("stream_or_queue.batch.cron_config")
    [job] = scheduler.get_jobs()
    assert job.cron == config.NIGHTLY_CRON and job.queue_name == "nightly"
    assert job.func_name == "stream_or_queue.batch.nightly.nightly_classify"
