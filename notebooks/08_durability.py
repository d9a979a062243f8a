# %% [markdown]
# # 08 · Durability
#
# A research job that calls five tools and a model for two minutes will, sooner
# or later, be running when its server dies: a crash, an out-of-memory kill, or
# simply a deploy. A background job that starts over from scratch pays for every
# finished step again and may send its email twice; one that is simply dropped is a
# user who never gets an answer. A *durable-execution engine* promises better: the
# work resumes where it stopped, a notification goes out once, and there is a record
# of what ran. This notebook shows the mechanism in a few lines, then uses a real
# engine, DBOS, and kills real processes to measure what survives.

# %% [markdown]
# ## What you will learn
#
# - The mechanism inside every durable-execution engine - *step memoization* - in
#   one screen of code, and what it does when its process is killed.
# - The same pipeline on DBOS: `kill -9` a worker process mid-workflow and count the
#   finished steps that ran again: 0.
# - The same fault on a pipeline with no engine: work lost, or a notification sent
#   twice.
# - One workflow per request (a double click), pause and resume, deploys, queues
#   with a concurrency cap and a rate limit (measured), and the audit trail read
#   from the engine's own record.

# %% [markdown]
# ## Setup
#
# Two DBOS worker processes start now, in the background (a process boot takes a few
# seconds, mostly imports); they are needed from section 2 on.

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt

from stream_or_queue.durable import engine
from stream_or_queue.durable.history import (
    StepRow,
    draw_timeline,
    most_at_once,
    most_started_within,
    queue_starts,
    run_spans,
    step_rows,
    workflow_rows,
)
from stream_or_queue.durable.ledger import ledger_counts, read_ledger
from stream_or_queue.durable.memo import Memo
from stream_or_queue.durable.pipeline import enqueue_pipeline
from stream_or_queue.durable.worker import WorkerProcess, take_over

record = Path(tempfile.mkdtemp())  # DBOS's SQLite file and the ledgers live here
dbos_url = f"sqlite:///{record / 'dbos.sqlite'}"
workers = [WorkerProcess(f"worker-{i}", dbos_url).start(wait=False) for i in (1, 2)]
STEP_S = 0.3  # real seconds per step: short, but long enough to be caught running


def wait_until(predicate, timeout_s=120.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def finished_steps(ledger):
    return sum(row["kind"] == "end" for row in read_ledger(ledger))


# %% [markdown]
# ## 1. Steps that remember their results
#
# Temporal, Inngest, Trigger.dev and DBOS all make a long workflow survive crashes
# the same way. The workflow is ordinary code split into named **steps**; each step's
# result is stored the moment it finishes; when the workflow runs again - after a
# crash, a deploy, a retry - the code runs from the top, but a step that already has
# a stored result returns it at once instead of running. Only the step that was
# interrupted runs again. Here is the whole mechanism (`durable/memo.py`):

# %%
import inspect

print(inspect.getsource(Memo))

# %% [markdown]
# A four-step workflow on `Memo`, in its own process. We kill that process with
# SIGKILL (`kill -9`: no cleanup, no goodbye) while its third step runs, then run the
# same script again:

# %%
script = record / "memo_workflow.py"
script.write_text(
    "import sys, time\n"
    "from stream_or_queue.durable.memo import Memo\n"
    "memo = Memo(sys.argv[1])\n"
    "def work(name):\n"
    "    print(name, flush=True)\n"
    "    time.sleep(float(sys.argv[2]))\n"
    "    return name.upper()\n"
    "print([memo.step(n, work, n) for n in ('plan', 'search', 'read', 'write')], flush=True)\n"
)
memo_file = record / "memo.json"
command = [sys.executable, str(script), str(memo_file), str(STEP_S)]
first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
ran_first = [first.stdout.readline().strip() for _ in range(3)]  # plan, search, read started
first.kill()  # SIGKILL while 'read' runs
first.wait()
first.stdout.close()
kept = list(Memo(memo_file).done)
again = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split("\n")
ran_again = again[:-2]
print("first run, killed:", ran_first, "| record kept:", kept)
print("second run ran:   ", ran_again, "| result:", again[-2])
redone = [s for s in ran_again if s in ran_first[:-1]]
print("finished steps that ran again:", len(redone))
assert not redone and ran_again[0] == ran_first[-1]

# %% [markdown]
# `plan` and `search` came from the record; `read`, cut off in the middle, had no
# stored result and ran again. So a step is *at least once*: make it idempotent (the
# notification below shows how). The rules that make replaying correct are every
# engine's rules: step names are the same on every run; anything random, timed or
# external happens *inside* a step; a step returns data that can be stored.
#
# ## 2. The same on a real engine: DBOS kills and recovers
#
# [DBOS Transact](https://github.com/dbos-inc/dbos-transact-py) is a library inside
# the Python process that keeps its record of workflows and steps in SQLite (one file,
# no server, so it runs here and in Binder) or in Postgres (many processes and
# machines). The pipeline (`durable/pipeline.py`) is three DBOS steps - `fetch`,
# `analyse`, `write` - and a notification keyed by the workflow id:
#
# ```python
# @DBOS.workflow()
# def pipeline(item, step_s, ledger):
#     results = [work(DBOS.workflow_id, item, name, step_s, ledger) for name in STEPS]
#     notify(DBOS.workflow_id, results[-1], ledger)   # once per workflow id
#     return {"item": item, "results": results}
# ```
#
# Three orders go on the queue of the two worker processes (this kernel only
# enqueues and watches, through a `DBOSClient`). When four steps have finished, the
# worker running the most of them is killed with SIGKILL, and its unfinished
# workflows are handed to the survivor (`take_over`: DBOS's `resume_workflow`). The
# step bodies write a ledger of what really ran.

# %%
for w in workers:
    w.wait_ready()
dbos_client = engine.client(dbos_url)
orders = [f"order-{i}" for i in range(3)]
dbos_ledger = record / "dbos.jsonl"
for order in orders:
    enqueue_pipeline(dbos_client, order, f"report for {order}", STEP_S, str(dbos_ledger))
wait_until(lambda: finished_steps(dbos_ledger) >= 4)
busiest = max(workers, key=lambda w: sum(r["pid"] == w.pid for r in read_ledger(dbos_ledger)))
busiest.kill()  # SIGKILL, mid-workflow
notified_at_kill = ledger_counts(dbos_ledger).notifications
take_over(dbos_client, [busiest.executor_id])
done: list[dict] = [
    dbos_client.retrieve_workflow(o).get_result(polling_interval_sec=0.05) for o in orders
]
dbos_counts = ledger_counts(dbos_ledger)
print(f"killed with {notified_at_kill} of {len(orders)} orders notified")
print(f"completed after the take-over: {len(done)} of {len(orders)}")
print(f"finished steps that ran again: {dbos_counts.finished_steps_redone}")
print(
    f"notifications: {dbos_counts.notifications} ({dbos_counts.duplicate_notifications} duplicates)"
)
assert len(done) == 3 and dbos_counts.finished_steps_redone == 0

# %% [markdown]
# ## 3. The same fault with no engine
#
# Now the same three orders as one background job on a plain runner: a process that
# does every order's steps, then its notification (`durable/naive.py`), with no record
# but its log. The same fault: `kill -9` once four steps have finished. A plain runner
# then has two choices. Run nothing again - the orders not yet notified are lost. Or
# retry the job from the top, as RQ's `Retry` would.

# %% [markdown]
# **Predict first.** Before you run the next cell, pick an answer; the cell after
# the measurement puts it beside what was measured (the quick check at the end
# asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("08_durability", only=["naive-retry"])

# %%
naive_ledger = record / "naive.jsonl"
naive = [sys.executable, "-m", "stream_or_queue.durable.naive", str(naive_ledger)]
naive += ["--step-s", str(STEP_S), *orders]
job = subprocess.Popen(naive)
wait_until(lambda: finished_steps(naive_ledger) >= 4)
job.kill()  # the same fault: SIGKILL when four steps have finished
job.wait()
no_retry = ledger_counts(naive_ledger)
subprocess.run(naive, check=True)  # the retry: the same job, from the top
retried = ledger_counts(naive_ledger)

rows = [
    ("no engine, no retry", no_retry.notifications, 3 - no_retry.notifications, 0, 0),
    (
        "no engine, retried",
        retried.notifications,
        3 - retried.notifications,
        retried.finished_steps_redone,
        retried.duplicate_notifications,
    ),
    (
        "DBOS",
        dbos_counts.notifications,
        3 - dbos_counts.notifications,
        dbos_counts.finished_steps_redone,
        dbos_counts.duplicate_notifications,
    ),
]
print(f"{'kill -9 after 4 finished steps':32} {'done':>5} {'lost':>5} {'redone':>7} {'twice':>6}")
for name, notified, lost, redone_steps, twice in rows:
    print(f"{name:32} {notified:>5} {lost:>5} {redone_steps:>7} {twice:>6}")
assert rows[-1][1:] == (3, 0, 0, 0)  # what the sentence below says of DBOS
print(
    f"Without an engine the crash cost {3 - no_retry.notifications} lost orders, or, retried, "
    f"{retried.finished_steps_redone} finished steps paid again and "
    f"{retried.duplicate_notifications} notification sent twice; on DBOS, nothing."
)


# %%
naive_paid = f"{retried.finished_steps_redone} finished steps paid again"
naive_twice = f"{retried.duplicate_notifications} notification sent twice"
Quiz.compare("08_durability", "naive-retry", f"retried from the top: {naive_paid}, {naive_twice}")

# %% [markdown]
# Nobody wrote a loss or a duplicate into the naive job: they are what a real kill
# does to a job that remembers nothing. The retried job re-ran every step of the
# orders it had finished and notified the first order a second time - its email
# went out before the crash, and nothing said so.
#
# ## 4. One workflow per request, pause and resume
#
# A request sent twice (a double click, a retried POST) must not run twice: give the
# workflow an id derived from the request, and DBOS attaches the second submission to
# the first workflow. The id is also the notification's idempotency key, so even a
# notification step killed after sending (and so run again) is dropped by a receiver
# that keeps one message per key. Pause and resume are `cancel_workflow` (it stops
# between two steps) and `resume_workflow` (it goes on from there).

# %%
enqueue_pipeline(dbos_client, "order-9", "late report", STEP_S, str(dbos_ledger))
wait_until(lambda: any(r["wf"] == "order-9" for r in read_ledger(dbos_ledger)))
dbos_client.cancel_workflow("order-9")
paused = dbos_client.retrieve_workflow("order-9").get_status().status
dbos_client.resume_workflow("order-9")
late: dict = dbos_client.retrieve_workflow("order-9").get_result(polling_interval_sec=0.05)
for _ in range(2):  # the same request twice
    request = enqueue_pipeline(dbos_client, "order-10", "urgent report", 0.0, str(dbos_ledger))
request.get_result(polling_interval_sec=0.05)
counts = ledger_counts(dbos_ledger)
print(f"order-9: {paused} after cancel, then resumed: {len(late['results'])} steps done")
print(
    f"workflows run (order-10 sent twice): {counts.workflows}, finished steps that ran again: "
    f"{counts.finished_steps_redone}, notifications: {counts.notifications} "
    f"({counts.duplicate_notifications} duplicates)"
)

# %% [markdown]
# ## 5. Deploys, queues and the audit trail
#
# - **A deploy with workflows in flight.** DBOS recovers a workflow only on a process
#   running the *application version* it started on (the course pins it in `config`,
#   so that editing a cell does not orphan work). A deploy that keeps the version lets
#   the new processes recover the old ones' workflows; one that changes it leaves them
#   to an old-version process, or moves them onto the new code with `fork_workflow`
#   (`durable.worker.fork_onto`): a new workflow that starts after the last recorded
#   step, every earlier result copied, not run. As with any engine, a step's inputs and
#   outputs must stay compatible across the deploy (Temporal calls it versioning).
# - **Queues** hold workflows until a worker may start them, under two limits,
#   tried next.
#
# ### Queues: a concurrency cap and a rate limit
#
# `worker_concurrency=n` caps how many of a queue's workflows *one process* runs at
# once (what its memory, a GPU or a connection pool can take; `global_concurrency`
# caps all processes together). `limiter={"limit": n, "period": s}` caps how many
# *start* within any `s` seconds, across every process: the shape of a provider's
# rate limit. DBOS keeps a queue's settings in its record, and every worker reads
# them there about once a second: so this kernel declares two queues through its
# client (`engine.register_queue`), and the surviving worker process serves them
# without a restart. Six short pipelines go on `capped` (2 at once), six on
# `limited` (2 starts per second).

# %%
QUEUE_STEP_S = 0.1  # three steps: a pipeline runs a little over 0.3 s
await engine.aregister_queue("capped", worker_concurrency=2, client=dbos_client)
await engine.aregister_queue("limited", limiter={"limit": 2, "period": 1.0}, client=dbos_client)
runs = {name: [f"{name}-{i}" for i in range(6)] for name in ("capped", "limited")}
for name, ids in runs.items():
    for i, workflow_id in enumerate(ids):
        enqueue_pipeline(dbos_client, workflow_id, f"item {i}", QUEUE_STEP_S, "", queue_name=name)
for workflow_id in runs["capped"] + runs["limited"]:
    dbos_client.retrieve_workflow(workflow_id).get_result(polling_interval_sec=0.05)

# %% [markdown]
# DBOS's record says when each workflow left its queue (the time the limiter counts)
# and when each of its steps ran: that is all the measurement needs. A limiter counts
# real seconds, so this measurement runs on the wall clock: how long each queue took
# depends on the machine, and is drawn on the timelines; what each setting
# guarantees holds on every run, and is printed.

# %%
spans = {name: run_spans(dbos_client, ids) for name, ids in runs.items()}
starts = {name: queue_starts(dbos_client, ids) for name, ids in runs.items()}
at_once = {name: most_at_once(found.values()) for name, found in spans.items()}
per_period = {name: most_started_within(times, 1.0) for name, times in starts.items()}
took = {
    name: (max(e for _, e in found.values()) - min(b for b, _ in found.values())) / 1000
    for name, found in spans.items()
}
whole_seconds = all(t % 1000 == 0 for t in starts["limited"])
shown = {"capped": "worker_concurrency=2", "limited": "limit 2 per 1.0 s"}
assert at_once["capped"] == 2 and per_period["limited"] == 2  # what the sentences say
print(
    f"capped ({shown['capped']}): {len(runs['capped'])} pipelines, never more than "
    f"{at_once['capped']} running at once"
)
print(
    f"limited ({shown['limited']}): {len(runs['limited'])} pipelines, never more than "
    f"{per_period['limited']} started within one second of DBOS's record, however idle "
    "the worker was"
)
print(f"DBOS stamped those starts in {'whole seconds' if whole_seconds else 'milliseconds'}")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for ax, (name, found) in zip(axes, spans.items(), strict=True):
    bars = [StepRow(i, wf, b, e, True, None) for i, (wf, (b, e)) in enumerate(found.items())]
    draw_timeline(bars, title=f"{name}: {shown[name]} (took {took[name]:.1f} real s)", ax=ax)
    ax.set_xlabel("real seconds since the first workflow's first step")
plt.tight_layout()
plt.show()

# %% [markdown]
# The cap ran the pipelines two at a time, in rounds; the limiter started them in
# pairs, however short the work and however idle the worker. A cap protects what one
# process has (memory, a connection pool); a rate limit protects a quota that every
# process shares (a provider's requests per minute).
#
# Read a limiter with its clock. DBOS counts a start at the time its database
# stamps it: on SQLite under Python 3.11 that is a whole second, so the window is a
# clock second, and two pairs can start less than a second apart across a second's
# boundary (the timeline shows it when they do). On Postgres, or SQLite under Python
# 3.12, the stamps are milliseconds and the window is any rolling second. Against a
# provider's quota, set the limit a little under it.
#
# ### The audit trail
#
# The audit trail needs no second log: it is DBOS's own record of every workflow
# (status, executor, version) and step (order, output, start and end):

# %%
survivor = next(w for w in workers if w is not busiest)
roles = {survivor.executor_id: "the surviving worker", busiest.executor_id: "the killed worker"}
for row in workflow_rows(dbos_client, workflow_ids=orders):
    print(row.workflow_id, row.status, row.app_version, "| executor:", roles[row.executor_id])
draw_timeline(step_rows(dbos_client, orders[0]), title="order-0 in DBOS's record")
plt.show()
for w in workers:
    w.stop()
dbos_client.destroy()

# %% [markdown]
# ## Which engine?
#
# Temporal, Inngest and Trigger.dev work as DBOS does - steps whose results are
# recorded, replayed after a crash - but each needs a server. The course runs DBOS
# because it needs none: it runs here and in Binder, on SQLite, and on Postgres
# across many processes and machines when you scale out.
#
# | | DBOS | Temporal | Inngest | Trigger.dev |
# |---|---|---|---|---|
# | runs the workflow | a library in your process | your workers, driven by its server | your endpoint, called by its server | its platform's workers |
# | keeps the record | SQLite or Postgres | its server's database | its server | its platform |
# | once per request | workflow id | workflow id | idempotency key | idempotency key |
# | needs a server | no | yes | yes | yes |

# %% [markdown]
# ## Summary
#
# - Durable execution is step memoization: store each step's result as soon as it
#   finishes; on a rerun, finished steps return their result and only the
#   interrupted one runs again - a step is at least once, so make it idempotent.
# - On DBOS, a worker process killed with SIGKILL mid-workflow loses nothing: its
#   workflows are recovered (by a restart with the same executor id, or handed to a
#   live worker) and no finished step runs again.
# - The same `kill -9` on a job with no engine loses the unfinished orders, or -
#   retried from the top - pays for finished steps again and sends an email twice.
# - One workflow id per request makes a double submit one workflow and one
#   notification; `cancel_workflow` / `resume_workflow` pause and resume; the audit
#   trail is the engine's own record.
# - A queue's `worker_concurrency` caps the workflows one process runs at once; its
#   `limiter` caps how many start per period across all processes. Both are settings
#   in the record, so a client can declare or retune a queue while workers run.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("08_durability")

# %% [markdown]
# ## Lab
#
# [Lab 08](../labs/08_durability.ipynb): make a three-step pipeline (extract,
# summarize with the model, publish) resumable. The checks run it as an RQ job,
# kill its worker in the middle of the summary and verify that it resumes - and
# that the summary is published once.
# ([solution](../solutions/08_durability.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [07x · Batch at scale: going further (optional)](07x_batch_going_further.ipynb) | [Course index](../README.md#lessons) | [09a · Research assistant v1: the chat box](09a_research_v1_chat_box.ipynb) →
#
# **Lab:** [Lab 08 · Durability](../labs/08_durability.ipynb) · [solution](../solutions/08_durability.ipynb)
