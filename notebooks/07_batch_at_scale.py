# %% [markdown]
# # 07 · Batch at scale
#
# "Write a description for each of our 10,000 products" is not a conversation.
# Nobody watches item 4,812 being written; what matters is that all of them get
# done, that the job does not hammer the API (or get throttled by it), that
# failures are retried without anyone noticing, and what it costs. This notebook
# takes one catalogue through three designs - a plain loop, capped concurrency,
# and the Message Batches API at half price - measures each, and ends with a job
# a hundred times bigger: classifying 50 million support tickets, night by night.

# %% [markdown]
# ## What you will learn
#
# - Validate 10,000 rows before spending anything, reject the bad ones with a
#   report, and account for every row at the end (a reconciliation table).
# - Cap concurrency with an `asyncio.Semaphore` (and with RQ's `RateLimit` for
#   queued work), and see the 429s an uncapped client collects.
# - Send the whole catalogue through the Message Batches API: submit, poll with a
#   progress bar, stream the results, resubmit only what errored or expired.
# - Tell the SDK's built-in retries from explicit backoff with jitter, cap retries
#   with a budget, and make every retry idempotent with `custom_id`.
# - Size "classify all 50M tickets", and run a small version as a nightly batch
#   on RQ's cron scheduler.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup
from stream_or_queue.simulator import RateLimits

env = setup(seed=0, time_scale=0.001, limits=RateLimits(max_concurrency=50))

# %% [markdown]
# Two clocks in this notebook, both in *simulated* seconds. Batches take minutes
# to hours, so the notebook runs at 0.001 real seconds per simulated second: a
# simulated hour passes in 3.6 real seconds. Where a cell times individual
# requests it switches to 0.1 with `config.time_scale_set_to(0.1)`, because each
# SDK call costs about half a millisecond of real Python time, which at 0.001
# would count as half a simulated second per request.
#
# The simulator plays an organisation whose rate limit is 50 requests in flight
# (`RateLimits(max_concurrency=50)`): above it, the API answers
# `429 rate_limit_error` with a `retry-after-ms` header, like the real one.

# %% [markdown]
# ## 1. The catalogue, and the rows that must not go out
#
# The catalogue is generated from a seed (10,000 rows, the same for everyone), with
# a few rows broken on purpose, as in any real export: a product without a name, a
# text that is really a pasted manual, an id used twice. Sending them would waste
# money at best; a repeated id is worse: the Batches API refuses a whole batch if
# two requests share a `custom_id`. So validation comes first, and it reports what
# it rejects instead of dropping it.

# %%
from stream_or_queue.batch import Ledger, generate_catalogue, product_item, validate_products

catalogue = generate_catalogue()
report = validate_products(catalogue)
print(report)

# %%
items = [product_item(product) for product in report.valid]
print(f"{len(items):,} work items, each a custom_id and the Messages parameters. The first prompt:")
print()
print(items[0].params["messages"][0]["content"])

# %% [markdown]
# Every pipeline below records what happens to each item in a `Ledger`, started
# from the valid items and the rejections. At the end it answers one question for
# every row: succeeded, retried-then-succeeded, rejected-invalid or failed. A row
# still "pending" when the job is over is a lost item.
#
# ## 2. The naive loop
#
# The first version everyone writes: one `messages.create` after another. Ten
# items are enough to see where it goes. The simulator's ledger records the time
# the model took for each answer (its scheduled latency), so the extrapolation
# does not depend on how busy this machine is.

# %%
from stream_or_queue import client, config
from stream_or_queue.batch import run_sequential, scheduled_latencies_s

SAMPLE = 10
mark = len(env.simulator.ledger)
with config.time_scale_set_to(0.1):
    loop = run_sequential(items[:SAMPLE], client=client(), ledger=Ledger(items[:SAMPLE]))
per_item_s = sum(scheduled_latencies_s(env.simulator, mark)) / SAMPLE
loop_total_s = per_item_s * len(items)
print(f"model time per description: {per_item_s:.2f} s (simulated, mean of {SAMPLE})")
print(
    f"{len(items):,} descriptions one after another: {loop_total_s:,.0f} s "
    f"= {loop_total_s / 3600:.1f} h (simulated)"
)

# %% tags=["nbval-ignore-output", "why:timing"]
print(
    f"measured: {loop.sim_seconds:.1f} s for {SAMPLE} items (simulated), "
    f"{loop.sim_seconds / SAMPLE:.2f} s per item"
)
assert loop.succeeded == SAMPLE and loop.sim_seconds >= 0.95 * per_item_s * SAMPLE

# %% [markdown]
# More than two hours with one process busy, every token at the full price, and a
# single uncaught exception at item 6,000 would stop the loop (this one records the
# failure and moves on, but most loops do not).
#
# ## 3. Capped concurrency
#
# Most of those hours are spent waiting for the API, so the obvious fix is to wait
# for many answers at once. `run_concurrent` (in `stream_or_queue.batch.runners`)
# does it with the plain asyncio tool for the job, a semaphore:
#
# ```python
# semaphore = asyncio.Semaphore(concurrency)
#
# async def one(item):
#     async for attempt in async_retrying(attempts=..., budget=...):  # backoff outside the slot
#         with attempt:
#             async with semaphore:                                 # at most `concurrency` in flight
#                 message = await client.messages.create(**item.params)
#     ledger.succeed(item.custom_id, message_text(message), message.usage)
#
# await asyncio.gather(*(one(item) for item in items))
# ```
#
# The cap is the point: it keeps the job inside the organisation's rate limit.
# Compare a cap of 50 (the limit) with no real cap (all 500 requests at once), on
# 500 items, with the SDK's own retries (2, obeying `retry-after`):

# %%
from typing import Any

from stream_or_queue import async_client
from stream_or_queue.batch import (
    Progress,
    concurrency_floor_s,
    peak_in_flight,
    run_concurrent,
    upstream,
)

SUBSET = items[:500]
capped: dict[int, dict[str, Any]] = {}
for cap in (50, 500):
    mark = len(env.simulator.ledger)
    ledger = Ledger(SUBSET)
    with config.time_scale_set_to(0.1):
        async with async_client() as async_api:
            stats = await run_concurrent(
                SUBSET,
                client=async_api,
                ledger=ledger,
                concurrency=cap,
                attempts=1,
                progress=Progress(len(SUBSET), f"cap {cap}"),
            )
    capped[cap] = {
        "stats": stats,
        "upstream": upstream(env.simulator, mark),
        "summary": ledger.reconcile(),
        "floor": concurrency_floor_s(scheduled_latencies_s(env.simulator, mark), min(cap, 50)),
        "peak": peak_in_flight(env.simulator, mark),
    }

# %% tags=["nbval-ignore-output", "why:timing"]
print(
    f"{'cap':>5} {'requests':>9} {'429s':>6} {'succeeded':>10} {'failed':>7} {'lost':>5} "
    f"{'wall (sim s)':>13} {'floor':>7} {'peak':>5}"
)
for cap, run in capped.items():
    seen, summary = run["upstream"], run["summary"]
    print(
        f"{cap:>5} {seen.requests:>9,} {seen.rate_limited:>6,} {summary.succeeded:>10,} "
        f"{summary.counts['failed']:>7,} {summary.lost:>5} {run['stats'].sim_seconds:>13.1f} "
        f"{run['floor']:>7.1f} {run['peak']:>5}"
    )
assert capped[50]["upstream"].rate_limited == 0 and capped[50]["summary"].succeeded == len(SUBSET)
assert capped[500]["upstream"].rate_limited > 0 and capped[500]["summary"].counts["failed"] > 0
assert all(run["summary"].lost == 0 for run in capped.values())

# %% [markdown]
# With the cap at the limit, no request is refused and the run takes close to its
# floor, the sum of the model's latencies divided by 50 (the rest is Python's own
# time per call). Without a cap, the API refuses everything above 50; every refused
# request is told to come back after the same second, so they all come back
# together, are refused together, and after the SDK's two retries most items fail.
# The ledger still records them as failed (nothing is lost), but the job did more
# requests to deliver less. Capping is what the seed means by *don't hammer your
# downstream APIs*.
#
# ### Queued work: RQ's `RateLimit`
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

# %% tags=["nbval-ignore-output", "why:timing"]
peak = peak_in_flight(env.simulator, mark)
print(
    f"6 workers, RateLimit 4: at most {peak} requests in flight, "
    f"{upstream(env.simulator, mark).rate_limited} refused with 429"
)
assert peak <= 4 and upstream(env.simulator, mark).rate_limited == 0

# %% [markdown]
# Each job's id is derived from its item's `custom_id`, so enqueueing an item twice
# returns the existing job instead of creating another: the producer can be rerun
# safely. (RQ's own `unique=True` cannot be combined with a rate limit, so
# `enqueue_items` checks first.)
#
# ## 4. Retries: whose job is it?
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
#   `errored` or `expired` are resubmitted in a new batch (section 5).
#
# ### A retry budget
#
# Retries are load. When the API is healthy they are rare; in an outage - here,
# half of all requests fail - per-request retries double the traffic exactly when
# the API can least take it. A retry budget caps retries for the whole run at a
# share of first attempts (`RetryBudget`: 10%, plus a floor of 10). What it cannot
# retry is reported as failed, for the next run to pick up:

# %% tags=["nbval-ignore-output", "why:threads"]
from stream_or_queue.batch import RetryBudget

outage_sim = Simulator(seed=2, faults=Faults(overloaded=0.5))
budgets = {}
for name, budget in (("no budget", None), ("budget 10% + 10", RetryBudget())):
    mark = len(outage_sim.ledger)
    ledger = Ledger(items[:300])
    async with async_client(simulator=outage_sim, max_retries=0) as async_api:
        await run_concurrent(
            items[:300], client=async_api, ledger=ledger, concurrency=50, attempts=6, budget=budget
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
# Which items the budget rescues depends on which failures come first, so the
# exact split varies a little between runs; the extra load does not: at most 40
# retries for 300 items.
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
# ## 5. The Message Batches API
#
# For work nobody is waiting on, the Batches API is the natural fit: every request
# at half price, no rate limit to dance around, and the API does its own retrying
# of transient failures. In exchange a batch takes minutes to hours (up to 24), and
# the results come back as a file, in any order. The steps:
#
# 1. **Submit**: one `messages.batches.create(requests=[{custom_id, params}, ...])`,
#    up to 100,000 requests.
# 2. **Poll**: `messages.batches.retrieve(id)` every 30-60 s until
#    `processing_status == "ended"`.
# 3. **Stream the results**: `messages.batches.results(id)` yields one entry per
#    request: `succeeded`, `errored`, `expired` (not processed within 24 h) or
#    `canceled`; match them by `custom_id`.
# 4. **Resubmit only the failures**, in a new batch.
#
# A dedicated simulator plays a slightly bad day: 1% of requests error, and a few
# (0.2%) are not processed in time and expire at hour 24.

# %%
from stream_or_queue.batch import SimulatorPeek, collect_results, submit_batch, wait_for_batches

batch_sim = Simulator(seed=3, faults=Faults(batch_errored=0.01, batch_expired=0.002))
api = client(simulator=batch_sim)
batch_ledger = Ledger(items, report.rejected)

batch_id = submit_batch(api, items, ledger=batch_ledger)
batch = api.messages.batches.retrieve(batch_id)
print(batch.processing_status, batch.request_counts.model_dump())

# %% [markdown]
# The real API reports `request_counts` only when the whole batch has ended, so a
# progress bar fed by the API alone jumps from 0 to 100%. Offline, `SimulatorPeek`
# lets the bar follow the simulator's processing, and skips the idle hours a batch
# spends waiting for its 24-hour deadline (`sim.batches.fast_forward`); durations
# below come from the API's own `created_at` and `ended_at`, so they include those
# hours.

# %%
peek = SimulatorPeek(batch_sim)
[ended] = wait_for_batches(
    api,
    [batch_id],
    sizes=[len(items)],
    poll_every_s=30.0,
    progress=Progress(len(items), "batch 1"),
    peek=peek,
)
took = (ended.ended_at - ended.created_at).total_seconds()
print(ended.processing_status, ended.request_counts.model_dump())
print(
    f"the API took {took:,.0f} s = {took / 3600:.1f} h (simulated): "
    f"{len(items):,} requests processed in "
    f"{config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S * len(items):,.0f} s, "
    "then the batch waited for its expired requests' deadline"
)

# %%
# Predict first: pick an answer before you run the next cell; the cell after
# the measurement puts it beside what was measured.
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("07_batch_at_scale", only=["resubmit"])

# %%
outcomes, to_retry = collect_results(api, batch_id, batch_ledger)
print(f"results: {dict(sorted(outcomes.items()))} -> {len(to_retry)} to resubmit")
example = items[0].custom_id
print(f"{example}: {batch_ledger.records[example].text}")
failed_example = to_retry[0]
print(f"{failed_example}: {batch_ledger.records[failed_example].errors}")


# %%
Quiz.compare("07_batch_at_scale", "resubmit", f"{len(to_retry)} requests go into the next batch")

# %% [markdown]
# Now resubmit exactly those, and keep going until nothing transient is left
# (at most three more rounds; what still fails after that is reported). This is
# what `run_batches` does from the start; here it picks up after round one:

# %% tags=["nbval-ignore-output", "why:ids"]
from stream_or_queue.batch import run_batches

retry_ids = set(to_retry)
retry_items = [item for item in items if item.custom_id in retry_ids]
retries = run_batches(
    retry_items,
    client=api,
    ledger=batch_ledger,
    max_rounds=3,
    poll_every_s=30.0,
    progress=Progress(len(retry_items), "retries"),
    peek=peek,
)
batch_api_s = took + retries.api_seconds
for number, submitted, succeeded, errored, expired, _canceled in retries.table():
    print(
        f"retry round {number}: {submitted} submitted -> {succeeded} succeeded, "
        f"{errored} errored, {expired} expired"
    )
print(f"batch path, all rounds: {batch_api_s / 3600:.1f} h (simulated, API clock)")

# %%
summary = batch_ledger.reconcile()
print(summary)
assert summary.lost == 0 and summary.counts["failed"] == 0
assert summary.total_rows == len(catalogue)
rerun = run_batches(items, client=api, ledger=batch_ledger)
print(f"running the whole pipeline again submits {rerun.entries_submitted} requests")

# %% [markdown]
# Every one of the 10,000 rows is accounted for: most succeeded in the first
# batch, the errored and expired ones in a retry batch, and the eight invalid rows
# were rejected before anything was spent. Nothing is pending, nothing lost, and
# running the pipeline again does nothing, because every `custom_id` already has
# its result.
#
# ## 6. Three ways compared
#
# Wall time in simulated hours (the loop and the concurrent runs extrapolated
# from their samples to all 9,992 items), requests and 429s, items failed (reported,
# to be retried) and lost, and the bill.
# The same tokens are priced twice: at the standard price, as the loop and the
# concurrent path pay, and at the batch price.

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.batch.charts import PathResult, compare_paths, cost_chart

scale = len(items) / len(SUBSET)
standard_cost, batch_cost = batch_ledger.cost(batch=False), batch_ledger.cost(batch=True)
paths = [
    PathResult("loop (extrapolated)", loop_total_s, len(items), 0, 0, 0, standard_cost),
    *(
        PathResult(
            f"{'cap 50' if cap == 50 else 'no cap'} (extrapolated)",
            run["stats"].sim_seconds * scale,
            round(run["upstream"].requests * scale),
            round(run["upstream"].rate_limited * scale),
            round(run["summary"].counts["failed"] * scale),
            run["summary"].lost,
            standard_cost,
        )
        for cap, run in sorted(capped.items(), reverse=True)
    ),
    PathResult(
        "Batches API",
        batch_api_s,
        batch_ledger.reconcile().attempts,
        0,
        summary.counts["failed"],
        summary.lost,
        batch_cost,
    ),
]
print(
    f"{'path':24} {'wall (simulated)':>17} {'requests':>9} {'429s':>7} {'failed':>7} {'lost':>5} "
    f"{'cost':>8}"
)
for path in paths:
    print(
        f"{path.name:24} {path.sim_seconds / 3600:>15.2f} h {path.requests:>9,} "
        f"{path.rate_limited:>7,} {path.failed:>7,} {path.lost:>5} ${path.cost:>7.2f}"
    )

# %%
import matplotlib.pyplot as plt

compare_paths(paths, title=f"{len(items):,} product descriptions, three ways")
plt.show()

# %%
print(
    f"standard price ${standard_cost:.2f}, batch price ${batch_cost:.2f}: "
    f"{1 - batch_cost / standard_cost:.0%} saved on {len(items):,} descriptions"
)
cost_chart(standard_cost, batch_cost, items=len(items), model=config.FAST_MODEL)
plt.show()

# %% [markdown]
# The loop is simple and slow. Capped concurrency is the fastest by far, and the
# right choice when results are wanted within minutes - at the full price, and
# only with a cap. The Batches API is the slowest to finish (here a day, because a
# few requests expired; a batch that finishes normally takes minutes) and the
# cheapest: half the bill, no 429s, nothing to tune. For 10,000 descriptions
# wanted by tomorrow, that is the one.
#
# ## 7. "Classify all 50M tickets": a nightly batch
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

# %% tags=["nbval-ignore-output", "why:ids"]
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
print(
    plan_nightly(
        50_000_000, input_tokens_per_item=per_ticket_in, output_tokens_per_item=per_ticket_out
    )
)

# %% [markdown]
# Twenty nights to work through the backlog, then one short run per night for the
# day's new tickets - and half the bill. The same job, scheduled, covers both.
#
# ## Summary
#
# - Bulk work is not a chat: validate up front (reject bad rows with a report),
#   record every item's fate, and check at the end that nothing is pending or lost.
# - A naive loop takes hours. Capped concurrency (a semaphore; RQ's `RateLimit`
#   across workers) is fast and stays under the rate limit; uncapped, it collects
#   429s and fails items.
# - The Message Batches API is the cheapest way (50% off) for work that can wait:
#   submit, poll, stream results by `custom_id`, resubmit only errored and expired.
# - Retries: the SDK's for interactive calls; explicit backoff with jitter and a
#   retry budget for bulk work (one layer, not two); results keyed by `custom_id`
#   so that a retry never delivers twice.
# - Huge jobs are a schedule, not a request: a nightly, idempotent batch job on a
#   cron, sized by arithmetic you can check.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("07_batch_at_scale")

# %% [markdown]
# ## Lab
#
# [Lab 07](../labs/07_batch_at_scale.ipynb): submit 1,000 prompts through the
# Batches API yourself, handle errored and expired results, resubmit only the
# failures, and compute what the batch price saved.
# ([solution](../solutions/07_batch_at_scale.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [06 · Start, then poll](06_start_then_poll.ipynb) | [Course index](../README.md#lessons) | [08 · Durability](08_durability.ipynb) →
#
# **Lab:** [Lab 07 · Batch at scale](../labs/07_batch_at_scale.ipynb) · [solution](../solutions/07_batch_at_scale.ipynb)
