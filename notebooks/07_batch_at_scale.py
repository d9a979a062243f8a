# %% [markdown]
# # 07 · Batch at scale
#
# "Write a description for each of our 10,000 products" is not a conversation.
# Nobody watches item 4,812 being written; what matters is that all of them get
# done, that the job does not hammer the API (or get throttled by it), that
# failures are retried without anyone noticing, and what it costs. This notebook
# takes one catalogue through three designs - a plain loop, capped concurrency,
# and the Message Batches API at half price - and measures each. Then two jobs
# nobody should wait for: summarising a 300-page document, and letting a model
# think longer because nobody is waiting.

# %% [markdown]
# ## What you will learn
#
# - Validate 10,000 rows before spending anything, reject the bad ones with a
#   report, and account for every row at the end (a reconciliation table).
# - Cap concurrency with an `asyncio.Semaphore`, and see the 429s an uncapped
#   client collects.
# - Send the whole catalogue through the Message Batches API: submit, poll with a
#   progress bar, stream the results, resubmit only what errored or expired.
# - Summarise a 300-page document as a background job: split it into chunks, map,
#   reduce, and notify the user.
# - Spend the time nobody is waiting for on extended thinking, and measure what it
#   costs in dollars and seconds.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup
from stream_or_queue.simulator import RateLimits

env = setup(seed=0, time_scale=0.001, limits=RateLimits(max_concurrency=50))

# %% [markdown]
# Every duration in this notebook is in *simulated* seconds. Batches take minutes
# to hours, so the notebook runs at 0.001 real seconds per simulated second: a
# simulated hour passes in 3.6 real seconds. Where a cell measures how long
# requests take, it does not read a clock at all: the simulator gives every answer
# a duration decided by the prompt (seeded, recorded in its ledger as the
# answer's *schedule*), so the cell runs the requests without waiting (on a
# simulated timeline, `clock.simulated()`, or at time scale 0,
# `config.time_scale_set_to(0)`) and takes the times from the schedules. Those
# figures are exact, and the same on every machine.
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
# items are enough to see where it goes. One call after another is what a
# simulated timeline measures exactly: inside `clock.simulated()`, each call's
# wait for its answer moves a clock by the answer's scheduled latency and returns
# at once, so the loop's stopwatch reads the model's time, not this machine's.

# %%
from stream_or_queue import client, clock, config
from stream_or_queue.batch import run_sequential, scheduled_latencies_s

SAMPLE = 10
mark = len(env.simulator.ledger)
with clock.simulated():
    loop = run_sequential(items[:SAMPLE], client=client(), ledger=Ledger(items[:SAMPLE]))
assert loop.succeeded == SAMPLE
assert abs(loop.sim_seconds - sum(scheduled_latencies_s(env.simulator, mark))) < 1e-6
per_item_s = loop.sim_seconds / SAMPLE
loop_total_s = per_item_s * len(items)
print(f"{SAMPLE} descriptions, one after another: {loop.sim_seconds:.1f} s (simulated)")
print(f"model time per description: {per_item_s:.2f} s (simulated, mean of {SAMPLE})")
print(
    f"{len(items):,} descriptions one after another: {loop_total_s:,.0f} s "
    f"= {loop_total_s / 3600:.1f} h (simulated)"
)

# %% [markdown]
# Hours with one process busy (the figure above), every token at the full price, and a
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
# First the code itself, on 500 items with a cap of 50 (the limit) and the SDK's
# own retries, at time scale 0: it records every answer's schedule, and
# `RunStats.request_ids` ties each item to its answer in the simulator's ledger.

# %%
from stream_or_queue import async_client
from stream_or_queue.batch import (
    Progress,
    concurrency_floor_s,
    replay_concurrent,
    run_concurrent,
    scheduled_by_item,
    upstream,
)

SUBSET = items[:500]
mark = len(env.simulator.ledger)
ledger = Ledger(SUBSET)
with config.time_scale_set_to(0):
    async with async_client() as async_api:
        stats = await run_concurrent(
            SUBSET,
            client=async_api,
            ledger=ledger,
            concurrency=50,
            attempts=1,
            progress=Progress(len(SUBSET), "cap 50"),
        )
seen, capped_summary = upstream(env.simulator, mark), ledger.reconcile()
schedule_s = scheduled_by_item(env.simulator, stats.request_ids)
latencies_s = [schedule_s[item.custom_id] for item in SUBSET]
print(
    f"cap 50: {seen.requests} requests, {seen.rate_limited} refused, "
    f"{capped_summary.succeeded} succeeded, {capped_summary.lost} lost"
)

# %% [markdown]
# How long does each design take, and what does an uncapped one collect? Both
# follow from those schedules and two rules, printed below:
# `replay_concurrent` (in `stream_or_queue.batch.replay`) plays them on simulated
# time, the same semaphore and the same retries, without a wall clock to stretch.
# A cap of 50 against no real cap (all 500 requests at once):

# %%
limits = env.simulator.limits
print(
    f"the simulator's rule: above {limits.max_concurrency} requests in flight, "
    f"429 with retry-after {limits.retry_after_s:g} s"
)
print(
    f"the SDK's rule: {config.SDK_MAX_RETRIES} retries (the course's clients), "
    "each after the retry-after it was given"
)
replays = {
    cap: replay_concurrent(
        latencies_s,
        concurrency=cap,
        limit=limits.max_concurrency,
        retry_after_s=limits.retry_after_s,
        max_retries=config.SDK_MAX_RETRIES,
    )
    for cap in (50, 500)
}
print(
    f"{'cap':>5} {'requests':>9} {'429s':>6} {'succeeded':>10} {'failed':>7} {'lost':>5} "
    f"{'wall (sim s)':>13} {'floor':>7} {'peak':>5}"
)
for cap, run in replays.items():
    floor_s = concurrency_floor_s(latencies_s, min(cap, limits.max_concurrency or cap))
    print(
        f"{cap:>5} {run.requests:>9,} {run.rate_limited:>6,} {run.succeeded:>10,} "
        f"{run.failed:>7,} {run.lost:>5} {run.seconds:>13.1f} {floor_s:>7.1f} {run.peak:>5}"
    )
assert (replays[50].requests, replays[50].rate_limited) == (seen.requests, seen.rate_limited)
assert replays[50].succeeded == capped_summary.succeeded == len(SUBSET)
assert replays[500].rate_limited > 0 and replays[500].failed > 0

# %% [markdown]
# With the cap at the limit, no request is refused (as the real run above found)
# and the run ends a little after its floor, the sum of the model's latencies
# divided by 50: the floor counts every slot busy to the very end, while the last
# answers run with slots left idle. Without a cap, the API refuses everything above
# 50; every refused request is told to come back after the same second, so they
# all come back together, are refused together, and after the SDK's two retries
# most items fail. `run_concurrent` records such items as failed, for the next run
# (07x shows its ledger losing none), but the job did more requests to deliver
# less, and finished sooner only because it gave up. Capping is what the seed means by *don't hammer your downstream APIs*.
#
# When the items are jobs on a queue, the cap must hold across every worker on
# every machine: RQ's `RateLimit` does that, shown in the *Going further* notebook
# with retries and the nightly batch.

# %% [markdown]
# ## 4. The Message Batches API
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
from stream_or_queue.simulator import Faults, Simulator

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

# %%
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
print(
    f"all {summary.total_rows:,} rows accounted for: {summary.succeeded:,} succeeded, "
    f"{summary.counts['rejected-invalid']} rejected before anything was spent, "
    f"{summary.lost} lost"
)

# %% [markdown]
# Every row is accounted for: most succeeded in the first batch, the errored and
# expired ones in a retry batch, and the invalid rows were rejected before anything
# was spent. Nothing is pending, nothing lost, and running the pipeline again does
# nothing, because every `custom_id` already has its result.
#
# ## 5. Three ways compared
#
# Wall time in simulated hours (the loop and the concurrent runs extrapolated
# from their samples to every valid item), requests and 429s, items failed (reported,
# to be retried) and lost, and the bill.
# The same tokens are priced twice: at the standard price, as the loop and the
# concurrent path pay, and at the batch price.

# %%
from stream_or_queue.batch.charts import PathResult, compare_paths, cost_chart

scale = len(items) / len(SUBSET)
standard_cost, batch_cost = batch_ledger.cost(batch=False), batch_ledger.cost(batch=True)
paths = [
    PathResult("loop (extrapolated)", loop_total_s, len(items), 0, 0, 0, standard_cost),
    *(
        PathResult(
            f"{'cap 50' if cap == 50 else 'no cap'} (extrapolated)",
            run.seconds * scale,
            round(run.requests * scale),
            round(run.rate_limited * scale),
            round(run.failed * scale),
            run.lost,
            standard_cost,
        )
        for cap, run in sorted(replays.items(), reverse=True)
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
print(
    f"the batch path took {batch_api_s / 3600:.1f} h (simulated) because "
    f"{summary.counts['retried-then-succeeded']} requests needed a second round, some of them "
    f"after expiring at hour {config.BATCH_EXPIRY_S / 3600:.0f}"
)
cost_chart(standard_cost, batch_cost, items=len(items), model=config.FAST_MODEL)
plt.show()

# %% [markdown]
# The loop is simple and slow. Capped concurrency is the fastest way to deliver
# every item (no cap ends sooner only because it gives up on thousands), and the
# right choice when results are wanted within minutes - at the full price, and
# only with a cap. The Batches API is the slowest to finish (the hours printed
# above: a few requests expired and waited for their deadline; a batch that
# finishes normally takes minutes) and the cheapest: half the bill, no 429s,
# nothing to tune. For 10,000 descriptions wanted by tomorrow, that is the one.
#
# ## 6. "Summarise this 300-page document": map, reduce, notify
#
# A long document is the other kind of job nobody should watch. Its input alone
# is close to a model's whole context window, and one call that reads all of it
# is one call that can fail at the end and lose everything. The shape that works
# is a background job (`stream_or_queue.batch.summary.summarise_document`, an RQ
# job function): split the document into chunks of whole pages, summarise each
# chunk, a few at a time (map), summarise the summaries (reduce), then email the
# user. Each step is small, so a failed one is cheap to redo. The sizes it rests
# on are assumptions, printed with their source:

# %%
from stream_or_queue.batch.summary import chunk_pages, generate_document

pages = generate_document(300)
chunks = chunk_pages(pages)
words = sum(len(page.split()) for page in pages)
print(
    f"assumption: {config.WORDS_PER_PAGE} words per page (a single-spaced page; "
    "publishing rule of thumb)"
)
print(f"assumption: {config.WORDS_PER_TOKEN} words per token (English prose, rule of thumb)")
print(
    f"assumption: at most {config.SUMMARY_CHUNK_TOKENS:,} input tokens per map call "
    "(the course's choice)"
)
print(
    f"{len(pages)} pages, {words:,} words, about {words / config.WORDS_PER_TOKEN:,.0f} tokens "
    f"-> {len(chunks)} chunks of {min(c.last_page - c.first_page + 1 for c in chunks)}-"
    f"{max(c.last_page - c.first_page + 1 for c in chunks)} pages"
)

# %%
import time

from stream_or_queue import jobs
from stream_or_queue.batch.summary import summarise_document
from stream_or_queue.choose import LONG_TASK_S

env = setup(seed=0, time_scale=0.001, quiet=True)
store = jobs.Inbox()
catcher = jobs.MailCatcher(store).start()
summaries = jobs.get_queue("summaries")
options = {
    "fast answer": dict(),
    "thinks first": dict(reduce_model=config.LARGE_MODEL, thinking_budget=8_000),
}
runs = {}
with jobs.start_workers(1, queues=["summaries"]):  # one worker: the same order every run
    queued = {
        name: summaries.enqueue(
            summarise_document,
            pages,
            map_model=config.LARGE_MODEL,
            concurrency=4,
            job_timeout=600,
            meta={"notify_email": "ana@example.com", "title": f"handbook summary ({name})"},
            **options[name],
            **jobs.notification_callbacks(),
        )
        for name in options
    }
    for name, job in queued.items():
        jobs.wait(job, timeout=120)
        runs[name] = job.return_value()
deadline = time.monotonic() + 10
while len(store.list()) < len(runs) and time.monotonic() < deadline:
    time.sleep(0.01)
plain = runs["fast answer"]
print(
    f"{plain['calls']} calls ({plain['chunks']} map + 1 reduce), {plain['input_tokens']:,} input "
    f"tokens, ${plain['cost']:.2f}"
)
print(
    f"map {plain['map_s']:.1f} s + reduce {plain['reduce_s']:.1f} s = "
    f"{plain['map_s'] + plain['reduce_s']:.1f} s (simulated), 4 chunks at a time"
)
print(f"summary: {plain['summary'][:240]}...")
for message in store.list():
    print(f"email to {message.to}: {message.subject!r}")
assert plain["map_s"] + plain["reduce_s"] > LONG_TASK_S and len(store.list()) == len(runs)

# %% [markdown]
# The job runs past the 15-second line of the four questions (the sum printed
# above), so the user should not be watching a spinner: they asked, left, and got
# an email with the summary. The figure is a floor: the simulator does not model
# the extra time a real model takes to read a long prompt, so a real run takes
# longer, which only strengthens the case.
#
# ## 7. Longer thinking, where nobody waits
#
# The seed lists "cheaper / slower models (longer thinking)" among the things async
# makes possible. Extended thinking (`thinking={"type": "enabled", "budget_tokens":
# N}`) has the model write its reasoning in a `thinking` block before the answer:
# those tokens are billed as output and take the model's time to write. In a chat
# that is dead air; in a background job nobody sees it. The second job above
# ran the reduce step on the large model with a thinking budget:

# %%
deep = runs["thinks first"]
print(f"{'':14} {'reduce step':>12} {'thinking':>9} {'whole job':>10} {'cost':>7}")
for name, run in runs.items():
    print(
        f"{name:14} {run['reduce_s']:>10.1f} s {run['thinking_tokens']:>9,} "
        f"{run['map_s'] + run['reduce_s']:>8.1f} s ${run['cost']:>6.3f}"
    )
extra_s = deep["reduce_s"] - plain["reduce_s"]
extra_cost = deep["cost"] / plain["cost"] - 1
print(
    f"thinking first adds {extra_s:.0f} s (simulated) and {extra_cost:.0%} to the bill; "
    "the user, who gets an email either way, waits for neither"
)
print(
    f"assumption: the simulated model thinks for {config.THINKING_BUDGET_USE[0]:.0%}-"
    f"{config.THINKING_BUDGET_USE[1]:.0%} of its budget (the API treats the budget as a ceiling)"
)
assert deep["thinking_tokens"] > 0 and extra_s > LONG_TASK_S and 0 < extra_cost < 1

# %% [markdown]
# In a chat box those extra seconds would come before the first word of the
# answer; in a job they only move the email. Whether the thinking makes the answer
# better is for an evaluation with a live model: the offline simulator writes the
# same summary either way, so this notebook measures only what thinking costs.
#
# *Going further* ([07x](07x_batch_going_further.ipynb), optional): caps across
# queued workers with RQ's `RateLimit`, whose job retries are (the SDK's, yours,
# RQ's), a retry budget for outages, idempotency by `custom_id`, and "classify all
# 50M tickets" as a nightly batch on a cron.
#
# ## Summary
#
# - Bulk work is not a chat: validate up front (reject bad rows with a report),
#   record every item's fate, and check at the end that nothing is pending or lost.
# - A naive loop takes hours. Capped concurrency is fast and stays under the rate
#   limit; uncapped, it collects 429s and fails items.
# - The Message Batches API is the cheapest way (50% off) for work that can wait:
#   submit, poll, stream results by `custom_id`, resubmit only errored and expired.
# - A 300-page summary is a job: chunks, map a few at a time, reduce, notify.
# - Time nobody waits for can buy longer thinking: it costs output tokens and
#   seconds, measured above, and nobody sees the seconds.

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
# ← [06 · Start, then poll](06_start_then_poll.ipynb) | [Course index](../README.md#lessons) | [07x · Batch at scale: going further (optional)](07x_batch_going_further.ipynb) →
#
# **Lab:** [Lab 07 · Batch at scale](../labs/07_batch_at_scale.ipynb) · [solution](../solutions/07_batch_at_scale.ipynb)
