# %% [markdown]
# # 07x · Batch at scale: going further
#
# *Optional.* This notebook continues [07 · Batch at scale](07_batch_at_scale.ipynb)
# with the machinery a bulk job needs once it runs for real: a rate cap that holds
# across many workers, retries in the right layer and within a budget, results
# that cannot be delivered twice, and a job too big for one batch, run night by
# night on a schedule.

# %% [markdown]
# ## What you will learn
#
# - Cap queued work across every worker with RQ's `RateLimit`, and make the
#   producer safe to rerun.
# - Tell the SDK's built-in retries from explicit backoff with jitter, cap retries
#   with a budget, and make every retry idempotent with `custom_id`.
# - Size "classify all 50M tickets", and run a small version as a nightly batch on
#   RQ's cron scheduler.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue import async_client, config
from stream_or_queue.batch import (
    Ledger,
    Progress,
    generate_catalogue,
    peak_in_flight,
    product_item,
    run_concurrent,
    upstream,
    validate_products,
)
from stream_or_queue.course import setup
from stream_or_queue.simulator import RateLimits

env = setup(seed=0, time_scale=0.001, limits=RateLimits(max_concurrency=50))
items = [product_item(product) for product in validate_products(generate_catalogue()).valid]
print(f"{len(items):,} valid catalogue items, as in notebook 07")

# %% [markdown]
# As in notebook 07, the simulator plays an organisation whose rate limit is 50
# requests in flight, and the clock runs at 0.001 real seconds per simulated second.
#
# ## 1. Queued work: RQ's `RateLimit`
#
# When the items are jobs on a queue, the cap must hold across every worker on
# every machine, which a semaphore in one process cannot do. RQ 3.0 has it built
# in: jobs enqueued with `RateLimit(key, concurrency)` wait in a `rate_limited`
# state until one of the `concurrency` slots for that key frees up. Six workers,
# a cap of four:

# %%
from stream_or_queue.batch.queued import collect_jobs, enqueue_items, start_workers, stop_workers
from stream_or_queue.jobs import get_queue, get_redis

QUEUED = items[:60]
queue = get_queue("descriptions")
queued_ledger = Ledger(QUEUED)
mark = len(env.simulator.ledger)
with config.time_scale_set_to(0.05):
    workers = start_workers("descriptions", 6)
    jobs = enqueue_items(queue, QUEUED, concurrency=4, ledger=queued_ledger)
    again = enqueue_items(queue, QUEUED[:10], concurrency=4)  # the same ten items, again
    statuses = collect_jobs(
        jobs,
        queued_ledger,
        connection=get_redis(),
        poll_every_s=2.0,
        progress=Progress(len(jobs), "queued jobs"),
    )
    stop_workers(workers)
print(
    f"jobs: {statuses}; enqueued the same 10 items again -> "
    f"{len({job.id for job in again} - {job.id for job in jobs})} new jobs"
)
print(queued_ledger.reconcile())

# %% [markdown]
# Six worker threads really run side by side here, so how many requests overlap
# at any moment depends on the machine's timing: the cell checks the measured peak
# against the cap and prints what holds on every run.

# %%
peak, refused = peak_in_flight(env.simulator, mark), upstream(env.simulator, mark).rate_limited
assert 1 <= peak <= 4
print(
    f"6 workers, RateLimit 4: at most 4 requests in flight (measured), {refused} refused with 429"
)
assert refused == 0

# %% [markdown]
# Each job's id is derived from its item's `custom_id`, so enqueueing an item twice
# returns the existing job instead of creating another: the producer can be rerun
# safely. (RQ's own `unique=True` cannot be combined with a rate limit, so
# `enqueue_items` checks first.)
#
# ## 2. Retries: whose job is it?
#
# Three ways to survive transient errors, on 300 items against an API that fails
# 10% of requests (4% `429`, 3% `529 overloaded`, 3% `500`). The faults are decided
# by the simulator's seed, so these counts are the same on every run:

# %%
from stream_or_queue.simulator import Faults, Simulator

retry_sim = Simulator(seed=1, faults=Faults(rate_limit=0.04, overloaded=0.03, server_error=0.03))
STRATEGIES = {
    "no retries": dict(max_retries=0, attempts=1),
    "SDK built-in (max_retries=2)": dict(max_retries=2, attempts=1),
    "explicit: 6 tries, backoff + jitter": dict(max_retries=0, attempts=6),
}
print(
    f"{'strategy':38} {'requests':>9} {'errors':>7} {'retried':>8} {'succeeded':>10} "
    f"{'failed':>7} {'lost':>5}"
)
for name, strategy in STRATEGIES.items():
    mark = len(retry_sim.ledger)
    ledger = Ledger(items[:300])
    async with async_client(simulator=retry_sim, max_retries=strategy["max_retries"]) as async_api:
        await run_concurrent(
            items[:300],
            client=async_api,
            ledger=ledger,
            concurrency=50,
            attempts=strategy["attempts"],
        )
    seen, summary = upstream(retry_sim, mark), ledger.reconcile()
    print(
        f"{name:38} {seen.requests:>9,} {seen.errors:>7,} "
        f"{summary.counts['retried-then-succeeded']:>8,} {summary.succeeded:>10,} "
        f"{summary.counts['failed']:>7,} {summary.lost:>5}"
    )

# %% [markdown]
# Compare *requests* with *retried*: the SDK's row made more requests than there
# are items, yet its ledger recorded no retry at all. Both retry layers deliver,
# but they fit different places:
#
# - **The SDK's built-in retries** (2 by default, 0.5-8 s apart, obeying
#   `retry-after`): right for a call a person is waiting on, where the goal is a
#   short, bounded delay. They are invisible to your code: no record, no budget.
# - **Explicit backoff with jitter** (`stream_or_queue.batch.retrying` /
#   `async_retrying`, built on tenacity): right for bulk work. More attempts over a
#   longer time; *full jitter* (a random wait up to `base x 2^n`) so that 50
#   workers that failed together do not retry together; never sooner than the
#   server's `retry-after`; every attempt in the ledger. Create the client with
#   `max_retries=0`, or the layers multiply: 3 SDK tries x 6 outer tries = 18
#   requests for one item.
# - **RQ's `Retry(max=..., interval=[...])`**: re-runs a whole queued job after
#   the SDK gave up, even on another worker after a crash. (Intervals need a
#   scheduler: `rq worker --with-scheduler` on a real Redis.)
# - **The Batches API**: no per-request retries at all. Requests that end
#   `errored` or `expired` are resubmitted in a new batch (notebook 07, section 4).
#
# ### A retry budget
#
# Retries are load. When the API is healthy they are rare; in an outage (the
# simulated one below fails the share of requests printed by the cell, an
# assumption) per-request retries multiply the traffic exactly when the API can
# least take it. A retry budget caps retries for the whole run at a
# share of first attempts (`RetryBudget`: 10%, plus a floor of 10). What it cannot
# retry is reported as failed, for the next run to pick up:

# %%
from stream_or_queue.batch import RetryBudget

outage_sim = Simulator(seed=2, faults=Faults(overloaded=0.5))
print(f"assumption: an outage in which {outage_sim.faults.overloaded:.0%} of requests fail (529)")
budgets = {}
for name, budget in (("no budget", None), ("budget 10% + 10", RetryBudget())):
    mark = len(outage_sim.ledger)
    ledger = Ledger(items[:300])
    with config.time_scale_set_to(0):  # nothing here is a duration: no waiting
        async with async_client(simulator=outage_sim, max_retries=0) as async_api:
            await run_concurrent(
                items[:300],
                client=async_api,
                ledger=ledger,
                concurrency=1,  # one at a time: the seed alone fixes which attempts fail
                attempts=6,
                budget=budget,
            )
    budgets[name] = (upstream(outage_sim, mark), ledger.reconcile())
    seen, summary = budgets[name]
    print(
        f"{name:16} {seen.requests:>5,} requests ({seen.requests / 300 - 1:+.0%} load), "
        f"{summary.succeeded:>3} succeeded, {summary.counts['failed']:>3} failed "
        f"(reported, for the next run), {summary.lost} lost"
    )
assert budgets["budget 10% + 10"][0].requests <= 300 + 40
assert all(summary.lost == 0 for _, summary in budgets.values())

# %% [markdown]
# Which items the budget rescues depends on which failures come first. Nothing
# printed above is a duration, so the cell runs at time scale 0 (every wait takes
# no time) and one request at a time, so the seed alone decides which attempts
# fail and the split is the same on every run. With many requests in flight the
# split varies by an item or two with the order in which answers come back; the
# extra load does not: at most 40 retries for 300 items.
#
# ### Idempotency by `custom_id`
#
# A retry is only safe if doing the work twice cannot deliver it twice. Requests
# can succeed and still look failed (the connection dropped after the answer was
# generated), results can be read twice, a job can run twice. The ledger keeps one
# result per `custom_id`; a second success is counted and ignored:

# %%
demo = Ledger(items[:1])
usage = {"input_tokens": 60, "output_tokens": 45}
print("first delivery stored: ", demo.succeed(items[0].custom_id, "A lamp for students.", usage))
print("second delivery stored:", demo.succeed(items[0].custom_id, "Another lamp text.", usage))
print(
    f"stored text: {demo.texts()[items[0].custom_id]!r}; "
    f"duplicates ignored: {demo.reconcile().duplicates_ignored}"
)

# %% [markdown]
# ## 3. "Classify all 50M tickets": a nightly batch
#
# Fifty million tickets do not fit in one batch (100,000 at most), and an
# organisation cannot keep unlimited requests waiting at the API. The shape that
# works is a job that runs every night: pick up the tickets without a label,
# submit them in chunks, keep a bounded number waiting, write the labels back,
# resubmit what errored. Because it skips tickets that already have a label,
# running it twice does nothing twice.
#
# `nightly_classify` is that job (an importable RQ job function), and RQ 3.0's
# cron scheduler fires it at 02:00 every day. The small version below labels 5,000
# tickets in batches of 1,000, two at a time, on a fresh simulator where 1% of the
# batch entries error.

# %%
import datetime as dt

from rq.cron import CronScheduler

from stream_or_queue.batch.nightly import fire_now, next_runs, schedule_nightly

env = setup(seed=0, time_scale=0.001, faults=Faults(batch_errored=0.01), quiet=True)
scheduler = CronScheduler(connection=get_redis(), logging_level="WARNING")
nightly = schedule_nightly(
    scheduler, total=5_000, max_per_batch=1_000, max_queued=2_000, poll_every_s=30.0
)
print(f"cron {nightly.cron!r} on queue {nightly.queue_name!r}")
print(
    "after 1 March 2026, 12:00 it fires:",
    ", ".join(
        d.strftime("%a %d %b %H:%M") for d in next_runs(nightly.cron, dt.datetime(2026, 3, 1, 12))
    ),
)

# %% [markdown]
# A notebook cannot wait for two o'clock. `fire_now` makes the registered job due
# and calls the scheduler's own `enqueue_jobs()`, which is exactly what the
# scheduler's loop does when the time comes (in production, on a real Redis:
# `rq cron stream_or_queue.batch.cron_config` next to `rq worker nightly`). A worker picks the job up; the job reports
# its progress in its meta, and the bar follows it:

# %%
from rq.job import Job

from stream_or_queue.batch.queued import follow_job

workers = start_workers("nightly", 1)
fired = fire_now(scheduler)
job = Job.fetch(nightly.get_job_ids(get_redis())[0], connection=get_redis())
night = follow_job(job, progress=Progress(5_000, "tonight"), poll_every_s=60.0)
fire_now(scheduler)  # the next night: nothing new to label
second = follow_job(
    Job.fetch(nightly.get_job_ids(get_redis())[0], connection=get_redis()), poll_every_s=60.0
)
stop_workers(workers)
for key in ("tickets", "submitted", "labelled", "failed", "lost", "input_tokens", "output_tokens"):
    print(f"{key:14} {night[key]:>9,}")
print(
    f"second night: {second['already_labelled']:,} already labelled, {second['submitted']} "
    "submitted"
)

# %%
print(
    f"{night['batches']} batches in {night['rounds']} rounds, "
    f"{night['api_seconds'] / 60:.0f} min of API time (simulated)"
)

# %% [markdown]
# Now the arithmetic for the real thing, with the tokens per ticket measured
# tonight. `plan_nightly` splits 50 million tickets into batches of 100,000, keeps
# 500,000 requests waiting at a time (`config.NIGHTLY_MAX_QUEUED_REQUESTS`, an
# assumption: check your organisation's limit), counts how many such waves fit in
# an eight-hour night at the simulator's pace, and prices it:

# %%
from stream_or_queue.batch.nightly import plan_nightly

per_ticket_in = night["input_tokens"] / night["labelled"]
per_ticket_out = night["output_tokens"] / night["labelled"]
print(f"measured: {per_ticket_in:.1f} input and {per_ticket_out:.1f} output tokens per ticket")
print()
plan = plan_nightly(
    50_000_000, input_tokens_per_item=per_ticket_in, output_tokens_per_item=per_ticket_out
)
print(plan)
print()
print(
    f"{plan.nights} nights to work through the backlog at "
    f"${plan.batch_cost:,.0f} instead of ${plan.standard_cost:,.0f} at the standard price"
)

# %% [markdown]
# After the backlog, one short run per night covers the day's new tickets - at
# the batch price. The same job, scheduled, covers both.
#
# ## Summary
#
# - Queued work needs a cap that holds across workers: RQ's `RateLimit`; job ids
#   derived from `custom_id` make the producer safe to rerun.
# - Retries: the SDK's for interactive calls; explicit backoff with jitter and a
#   retry budget for bulk work (one layer, not two); results keyed by `custom_id`
#   so that a retry never delivers twice.
# - Huge jobs are a schedule, not a request: a nightly, idempotent batch job on a
#   cron, sized by arithmetic you can check.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("07x_batch_going_further")

# %% [markdown]
# ## Lab
#
# This notebook shares [Lab 07](../labs/07_batch_at_scale.ipynb) with notebook 07:
# its last section, *the real run*, is where retries and a budget meet the Batches
# API. ([solution](../solutions/07_batch_at_scale.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [07 · Batch at scale](07_batch_at_scale.ipynb) | [Course index](../README.md#lessons) | [08 · Durability](08_durability.ipynb) →
#
# **Lab:** [Lab 07 · Batch at scale](../labs/07_batch_at_scale.ipynb) · [solution](../solutions/07_batch_at_scale.ipynb)
