# %% [markdown]
# # 08 · Durability
#
# A research job that calls five tools and a model for two minutes will, sooner
# or later, be running when its server dies: a crash, an out-of-memory kill, or
# simply a deploy. A background job that starts over from scratch pays for every
# finished step again; one that is simply dropped is a user who never gets an
# answer. Durable job runners promise something better: the job *resumes* where
# it stopped, a notification goes out once, and there is a record of what ran,
# when, and why it failed. This notebook builds that on RQ and Redis, then breaks
# it on purpose - and measures what survives.

# %% [markdown]
# ## What you will learn
#
# - How durable-execution engines survive crashes - *step memoization* - and the
#   same model on RQ + Redis: each step's result is checkpointed under the job's id.
# - Kill a worker in the middle of a job, hand the job back with RQ's abandoned-job
#   cleanup, and count the finished steps that ran again: 0.
# - Faults and bad input: a corrupted checkpoint, a worker killed twice in a row,
#   a step that always fails, a notification under retries.
# - Deploy new code while jobs are in flight, and pause and resume the workers.
# - Read the audit trail (a Redis stream) as a timeline, and measure a chaos run.
# - Then the same on a real engine, DBOS: `kill -9` a worker process mid-workflow,
#   pause and resume, send a request twice, read the engine's own record.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

import time
from collections import Counter
from functools import partial

import matplotlib.pyplot as plt
from rq import Retry
from rq.suspension import resume, suspend
from rq.worker import Worker

from stream_or_queue.durable import (
    CheckpointCorrupted,
    CheckpointStore,
    Outbox,
    WorkerFleet,
    audit_trail,
    summarize,
    timeline,
    trail_table,
    wait_until,
    worker_name,
)
from stream_or_queue.durable.demo import always_fails_job, executions, pipeline_job
from stream_or_queue.jobs import get_queue, is_fake

queue = get_queue("durable")
redis = queue.connection
STEP_S = 5.0  # simulated seconds of work per step
SLOW_S = 50.0  # the step we crash in takes longer, so we can catch it running


def status(job):
    return job.get_status(refresh=True).value


def started(job, step, attempt=1):
    """Has `step` started in `attempt`? (read from the job's audit trail)"""
    return any(
        e.name == step and e.outcome == "started" and e.attempt == attempt
        for e in audit_trail(job.id)
    )


def wait_ended(*jobs):
    wait_until(
        lambda: all(status(j) in ("finished", "failed") for j in jobs), 60, what="the jobs to end"
    )


print(
    "a crash here is:",
    "a worker thread cut off from Redis" if is_fake(redis) else "SIGKILL of an rq worker process",
)

# %% [markdown]
# ## 1. Steps that remember their results
#
# Temporal, Inngest and Trigger.dev all make a long workflow survive crashes in the
# same way. The workflow is ordinary code split into named **steps**; the engine
# stores each step's result the moment it finishes; when the workflow runs again -
# after a crash, a deploy or a retry - the code runs from the top, but every step
# that already has a stored result returns it at once instead of running. Only the
# step that was interrupted runs again. This is called *step memoization*.
#
# | durable-execution engine | here, on RQ + Redis |
# |---|---|
# | Temporal records each activity's result in the workflow's event history and replays the workflow code against it | `run.step(name, fn, ...)` stores `fn`'s JSON result in a Redis hash keyed by job id and step name |
# | Inngest: `step.run("name", fn)` is memoized; the function is re-invoked and finished steps are skipped | the RQ job runs again (a `Retry`, or the abandoned-job cleanup) and finished steps are skipped |
# | retry policies | RQ's `Retry(max=3)`: every crash or failure uses one |
# | event history | the audit trail: an append-only Redis **stream** per job |
# | idempotency keys | `run.once(name, fn, run.key(name), ...)` |
#
# The demo job `pipeline_job` (in `stream_or_queue/durable/demo.py`, because RQ
# cannot run functions defined in a notebook) is four steps and a notification:
#
# ```python
# def pipeline_job(steps=("search", "read", "summarize", "write"), step_s=20.0, ...):
#     with DurableRun.current() as run:          # attempt 1, 2, ... - all audited
#         results = []
#         for name in steps:
#             results.append(run.step(name, _work, run, name, step_s, ...))
#             if name == notify_after:
#                 run.once("notify", _notify, outbox, run.key("notify"), run.job_id, text)
#         return {"steps": results, "attempt": run.attempt}
# ```
#
# The rules that make replaying correct are the engines' rules too: step names are
# unique and the same on every attempt; anything random, timed or external happens
# *inside* a step; a step returns JSON data. First, one job without accidents:

# %%
fleet = WorkerFleet(2, [queue.name]).start()
job = queue.enqueue(pipeline_job, step_s=STEP_S, retry=Retry(max=3))
wait_ended(job)
print(status(job), "| step executions:", executions(job.id, redis))
print(trail_table(audit_trail(job.id)))

# %% [markdown]
# Every line above is an `XADD` to the stream `durable:<job id>:audit`: what ran,
# in which attempt, how it ended (the start and end times, the worker and the code
# version are there too, left out of this table).
#
# ## 2. Kill a worker in the middle of a job
#
# Now the same job, with a slow `summarize` step, and a crash while it runs. In a
# real deployment the worker is a process and the crash is `kill -9` (with
# `REDIS_URL` set, that is exactly what this cell does: SIGKILL to the `rq worker`
# and its work-horse). In this notebook's default, the workers are threads of this
# kernel, and a thread cannot be killed in Python - so `kill()` does the next most
# honest thing: it cuts the worker off from Redis. Its next Redis command fails, so
# it never writes a result, a checkpoint, a heartbeat or a status again. From
# Redis' point of view - the only view RQ has - the worker died on the spot.

# %%
# Predict first: pick an answer before you run the next cell; the cell after
# the measurement puts it beside what was measured.
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("08_durability", only=["crash-in-summarize"])

# %%
job = queue.enqueue(
    pipeline_job, step_s=STEP_S, durations={"summarize": SLOW_S}, retry=Retry(max=3)
)
wait_until(lambda: started(job, "summarize"), 30, what="summarize to start")
fleet.kill(fleet.busy_worker(job.id))

print("job status after the crash:", status(job))
print(
    "still in the StartedJobRegistry:",
    job.id in queue.started_job_registry.get_job_ids(cleanup=False),
)
print(
    "live workers:",
    len(fleet.alive()),
    "| checkpoints so far:",
    CheckpointStore(job.id, redis).steps(),
)

# %% [markdown]
# The job is *started*, owned by a worker that will never finish it. RQ has a
# mechanism for exactly this: every worker sends heartbeats, and each execution in
# the StartedJobRegistry expires some time after its last one (at least 60 s).
# Every worker runs a maintenance task - when it starts, then every
# `--maintenance-interval` seconds (10 minutes by default) - that calls
# `StartedJobRegistry.cleanup()`: each expired execution is an abandoned job, its
# failure callback gets an `AbandonedJobError`, and the job is re-enqueued if it
# has `Retry` budget left, or moved to the FailedJobRegistry if not.
#
# We know the worker is dead - we killed it - so `fleet.recover()` does not wait
# for the heartbeat to lapse: it marks the dead worker's executions expired and runs
# that same RQ cleanup now (under the lock RQ's maintenance takes, so that two
# cleanups never re-enqueue a job twice). A replacement worker picks the job up:

# %%
fleet.start()  # a replacement worker
print("handed back to RQ:", len(fleet.recover()), "job")
wait_ended(job)

runs = executions(job.id, redis)
s = summarize(audit_trail(job.id))
print(status(job), "after", s.attempts, "attempts")
print("step executions:", runs)
print(
    "finished steps re-executed:",
    s.finished_steps_reexecuted,
    "| skipped (from a checkpoint):",
    s.steps_skipped,
    "| interrupted (ran again):",
    s.interrupted_steps,
)
assert s.finished_steps_reexecuted == 0
assert runs == {"search": 1, "read": 1, "summarize": 2, "write": 1}
print(trail_table(audit_trail(job.id), width=120))


# %%
redone = f"{s.finished_steps_reexecuted} finished steps run again"
Quiz.compare(
    "08_durability", "crash-in-summarize", f"{status(job)} after {s.attempts} attempts, {redone}"
)

# %% [markdown]
# The crash cost exactly one step's work: `summarize`, which had not finished and
# had nothing to remember. `search` and `read` came from their checkpoints, and
# the notification went out once. The same trail as a timeline - one row per
# step, one bar per attempt, the dashed line where the second attempt started:

# %% tags=["nbval-ignore-output", "why:timing"]
timeline(audit_trail(job.id), title="A crash during 'summarize': the job resumes on another worker")
plt.show()

# %% [markdown]
# ## 3. Killed twice in a row
#
# A worker can die during the retry too. Kill one during `read` in the first
# attempt, and the next during `write` in the second:

# %%
job = queue.enqueue(
    pipeline_job, step_s=STEP_S, durations={"read": SLOW_S, "write": SLOW_S}, retry=Retry(max=3)
)
for step, attempt in [("read", 1), ("write", 2)]:
    wait_until(partial(started, job, step, attempt), 30, what=f"{step} to start")
    fleet.kill(fleet.busy_worker(job.id))
    fleet.start()
    fleet.recover()
wait_ended(job)

s = summarize(audit_trail(job.id))
print(status(job), "after", s.attempts, "attempts | step executions:", executions(job.id, redis))
print(
    "finished steps re-executed:",
    s.finished_steps_reexecuted,
    "| interrupted:",
    s.interrupted_steps,
    "| notifications:",
    Outbox().count(job.id),
)
assert s.finished_steps_reexecuted == 0 and s.attempts == 3

# %% [markdown]
# Two crashes, two interrupted steps run again, nothing else. Each crash used one
# of the job's three retries: a job killed four times would end in the failed
# registry - with its checkpoints still in Redis, so `job.requeue()` would resume
# it from its last finished step.
#
# ## 4. Faults: a corrupted checkpoint
#
# A checkpoint is a small JSON envelope with a SHA-256 checksum of its result. If
# it is truncated, edited by hand or written by incompatible code, the checksum
# no longer matches and the checkpoint is *not* trusted: the error says which job
# and which step, the audit trail records it, and the step simply runs again.
# Corrupt the checkpoint of `search` while the job is in `read`, then crash it:

# %%
job = queue.enqueue(pipeline_job, step_s=STEP_S, durations={"read": SLOW_S}, retry=Retry(max=3))
wait_until(lambda: started(job, "read"), 30, what="read to start")
store = CheckpointStore(job.id, redis)
store.corrupt("search")  # e.g. a truncated write
try:
    store.get("search")
except CheckpointCorrupted as exc:
    print("CheckpointCorrupted:", exc)

fleet.kill(fleet.busy_worker(job.id))
fleet.start()
fleet.recover()
wait_ended(job)
s = summarize(audit_trail(job.id))
print(status(job), "| step executions:", executions(job.id, redis))
print(
    "corrupt checkpoints:",
    s.corrupt_checkpoints,
    "| finished steps re-executed:",
    s.finished_steps_reexecuted,
)
print(trail_table([e for e in audit_trail(job.id) if e.kind == "checkpoint"], width=140))

# %% [markdown]
# `search` ran twice (its checkpoint could not be trusted) and `read` twice (it was
# interrupted); `summarize` and `write` once. The corruption was not silently fed
# into the next step, and nothing was lost.
#
# ## 5. A step that always fails
#
# Some failures are not crashes: an upstream that keeps answering 503. RQ's
# `Retry(max=2)` runs the job three times in all; each attempt skips `search` (it
# is checkpointed) and fails in `fetch`; then RQ gives up and moves the job to its
# FailedJobRegistry. The audit trail says why, attempt by attempt:

# %%
job = queue.enqueue(always_fails_job, step_s=STEP_S, retry=Retry(max=2))
wait_ended(job)
print(status(job), "| in the FailedJobRegistry:", job.id in queue.failed_job_registry.get_job_ids())
print("step executions:", executions(job.id, redis))
print(trail_table([e for e in audit_trail(job.id) if e.kind == "run"], width=140))

# %% [markdown]
# ## 6. Notify exactly once
#
# A retried job runs its code again - including the line that sends the email.
# `run.once("notify", ...)` records that the side effect happened, so later
# attempts skip it. One case is left: a worker that dies *after* the mail server
# accepted the message but *before* it could record that. Nobody can know whether
# it went out, so the next attempt sends it again (the trail records `uncertain`)
# with the same **idempotency key**, `run.key("notify")`, and the receiver keeps
# one message per key - the way payment APIs and webhook receivers deduplicate.
# Exactly-once delivery is at-least-once sending plus a deduplicating receiver.
#
# Four jobs whose last step fails twice after the notification was sent:

# %%
outbox = Outbox()
jobs = [
    queue.enqueue(
        pipeline_job,
        ("draft", "publish"),
        STEP_S,
        notify_after="draft",
        fail={"publish": 2},
        retry=Retry(max=3),
    )
    for _ in range(4)
]
wait_ended(*jobs)
print("attempts per job:", [summarize(audit_trail(j.id)).attempts for j in jobs])
print("notifications per job:", [outbox.count(j.id) for j in jobs])
print(
    "'notify' in the trails:",
    sorted(Counter(e.outcome for j in jobs for e in audit_trail(j.id) if e.kind == "once").items()),
)

# %% [markdown]
# ## 7. A deploy with jobs in flight
#
# A deploy stops every worker and starts new ones running new code. RQ's answer to
# SIGTERM is a *warm shutdown*: finish the current job, take no new one, exit.
# Queued jobs wait in Redis for the new workers. Six jobs, two in flight, deploy
# version `v2` (`WorkerFleet.deploy` stops all workers at once, then starts as many
# with `SOQ_CODE_VERSION=v2`; each step records the version that ran it):

# %%
fleet.stop()
fleet = WorkerFleet(2, [queue.name], version="v1").start()


def deploy_with_jobs_in_flight(version, grace_s):
    # enqueue_at_front: a job that was interrupted resumes before jobs that never started
    jobs = [
        queue.enqueue(
            pipeline_job,
            step_s=STEP_S,
            durations={"read": 20.0},
            retry=Retry(max=3, enqueue_at_front=True),
        )
        for _ in range(6)
    ]
    wait_until(lambda: sum(started(j, "read") for j in jobs) == 2, 30, what="two jobs in flight")
    killed = fleet.deploy(version, grace_s=grace_s)
    wait_ended(*jobs)
    versions = Counter(
        " ".join(step["version"] for step in j.return_value()["steps"]) for j in jobs
    )
    finished = sum(status(j) == "finished" for j in jobs)
    reexecuted = sum(summarize(audit_trail(j.id)).finished_steps_reexecuted for j in jobs)
    print(
        f"deploy {version} (grace {grace_s:g} real s): workers killed {killed}, "
        f"jobs finished {finished}/6, lost {6 - finished}, finished steps re-executed {reexecuted}"
    )
    for pattern, n in sorted(versions.items()):
        print(f"  {n} jobs ran their steps on: {pattern}")
    return jobs


warm = deploy_with_jobs_in_flight("v2", grace_s=30.0)

# %% [markdown]
# Nothing was lost and nothing ran twice: the two jobs in flight finished on `v1`,
# the four queued ones ran entirely on `v2`. But a warm shutdown waits for the
# longest job, and a platform's patience is limited (Kubernetes sends SIGKILL 30 s
# after SIGTERM by default). A job that outlives the grace period is killed - and
# then the checkpoints matter. The same deploy with almost no grace:

# %%
hard = deploy_with_jobs_in_flight("v3", grace_s=0.05)

# %% [markdown]
# The two jobs in flight were killed in `read`; `search` had been done by `v2` and
# was not repeated, and `v3` did the rest. They were enqueued with
# `Retry(max=3, enqueue_at_front=True)`, so RQ put them back at the *front* of the
# queue: work already half done resumes before work not yet started (by default a
# retried job waits behind everything queued meanwhile). That is also the deploy hazard the
# engines warn about: a job can run its steps on two versions of the code, so a
# step's inputs and outputs must stay compatible across a deploy (Temporal calls
# this workflow versioning). The timeline of the two killed jobs and one that was
# queued (a red bar ends when the crash was noticed; the gap after it is the time
# the job waited to be picked up again):

# %% tags=["nbval-ignore-output", "why:timing"]
trails = {f"job {i + 1}:": audit_trail(j.id) for i, j in enumerate(hard[:3])}
timeline(trails, title="A deploy with no grace period: killed in 'read', resumed by v3")
plt.show()

# %% [markdown]
# ## 8. Pause and resume
#
# Sometimes you want the workers to stop taking work without stopping them - a
# database migration, an upstream outage, a budget freeze. `rq suspend` (in
# Python, `rq.suspension.suspend(redis)`) sets a flag every worker checks *before
# it takes its next job*: jobs in progress finish, queued jobs stay queued, and
# `resume` lets them go. (RQ 3.0 checks the flag in its work loop, before it
# waits for a job: a worker that is already idle and waiting takes one more job
# before it notices. Suspend while the workers are busy, or expect that.)

# %%
jobs = [queue.enqueue(pipeline_job, step_s=STEP_S, durations={"read": 20.0}) for _ in range(6)]
wait_until(lambda: sum(started(j, "read") for j in jobs) == 2, 30, what="two jobs in flight")
suspend(redis)
names = [worker_name(w) for w in fleet.alive()]
wait_until(
    lambda: all(
        Worker.find_by_key(f"rq:worker:{n}", connection=redis).get_state() == "suspended"
        for n in names
    ),
    30,
    what="the workers to suspend",
)
print("suspended:", sorted(Counter(status(j) for j in jobs).items()))
time.sleep(0.3)  # 30 simulated seconds of nothing
print("still suspended:", sorted(Counter(status(j) for j in jobs).items()))
resume(redis)
wait_ended(*jobs)
print("after resume:", sorted(Counter(status(j) for j in jobs).items()))

# %% [markdown]
# RQ pauses *between* jobs. A long durable job can also be paused *between steps*
# without any help from RQ: stop its worker (warm or not) and start it again later
# - it resumes from its last checkpoint, as the deploy showed.
#
# ## 9. Chaos: many jobs, random crashes
#
# Finally, a small chaos run: 12 jobs on 3 workers, a busy worker killed at seeded
# random moments (at most 3 kills, fewer than the 3 retries each job has, so no job
# can run out), replacements started as in an orchestrator. The same run with the
# pipeline *without* checkpoints (`naive_pipeline_job`: every attempt starts from
# step one, the notification has no idempotency key) for contrast. Which job a
# kill hits depends on timing, so the figures vary a little from run to run;
# `scripts/chaos_durable.py` runs the 100-job version (with real `rq worker`
# processes when a `redis-server` is installed) - see `docs/performance.md`.

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.durable.chaos import run_chaos

fleet.stop()
results = [
    run_chaos(
        jobs=12,
        workers=3,
        step_s=5.0,
        kill_every_s=0.2,
        max_kills=3,
        retries=3,
        seed=0,
        durable=durable,
    )
    for durable in (True, False)
]
for r in results:
    print(
        f"{r.mode:8} kills {r.kills}: completed {r.completed}/{r.jobs}, lost {r.lost}, "
        f"steps re-executed {r.extra_step_executions} "
        f"(finished ones: {r.finished_steps_reexecuted}), "
        f"notifications {r.notifications} (duplicates {r.duplicate_notifications})"
    )
durable = results[0]
assert durable.lost == 0 and durable.unfinished == 0
assert durable.finished_steps_reexecuted == 0 and durable.duplicate_notifications == 0

fig, ax = plt.subplots(figsize=(7, 3))
labels = ["completed", "lost", "steps re-executed"]
for i, r in enumerate(results):
    values = [r.completed, r.lost, r.extra_step_executions]
    ax.bar(
        [x + (i - 0.5) * 0.38 for x in range(3)], values, 0.38, label=f"{r.mode} ({r.kills} kills)"
    )
ax.set_xticks(range(3))
ax.set_xticklabels(labels)
ax.set_title(f"{durable.jobs} jobs, {durable.workers} workers, random kills")
ax.legend()
plt.show()

# %% [markdown]
# ## The same on a real engine: DBOS
#
# Everything above is the mechanism, built by hand on RQ so that you can see it. In
# production you would use an engine that does it for you. The course runs
# [DBOS Transact](https://github.com/dbos-inc/dbos-transact-py): a library inside the
# Python process that keeps its record of workflows and steps in SQLite (one file,
# no server, so it runs here and in Binder) or in Postgres (many processes and
# machines). Temporal, Inngest and Trigger.dev work the same way - steps whose
# results are recorded, replayed after a crash - but each needs a server:
#
# | | DBOS | Temporal | Inngest | Trigger.dev |
# |---|---|---|---|---|
# | runs the workflow | a library in your process | your workers, driven by its server | your endpoint, called by its server | its platform's workers |
# | keeps the record | SQLite or Postgres | its server's database | its server | its platform |
# | once per request | workflow id | workflow id | idempotency key | idempotency key |
# | needs a server | no | yes | yes | yes |
#
# Below, a real worker process runs DBOS on a SQLite file; three workflows of
# three steps and a notification go on its queue; the process is killed with
# SIGKILL (`kill -9`) in the middle; a new process with the same executor id
# recovers the work. The step bodies write a ledger of what really ran.

# %%
import tempfile
from pathlib import Path

from stream_or_queue.durable import engine
from stream_or_queue.durable.history import draw_timeline, step_rows, workflow_rows
from stream_or_queue.durable.pipeline import enqueue_pipeline, ledger_counts, read_ledger
from stream_or_queue.durable.worker import WorkerProcess

record = Path(tempfile.mkdtemp())
dbos_url = f"sqlite:///{record / 'dbos.sqlite'}"
ledger = record / "ledger.jsonl"
dbos_worker = WorkerProcess("worker-1", dbos_url).start()  # a process running DBOS
dbos_client = engine.client(dbos_url)  # this kernel only enqueues and watches
orders = [f"order-{i}" for i in range(3)]
for i, order in enumerate(orders):
    enqueue_pipeline(dbos_client, order, f"report {i}", 0.3, str(ledger))
wait_until(lambda: sum(r["kind"] == "end" for r in read_ledger(ledger)) >= 2, 120)
dbos_worker.kill()  # SIGKILL, mid-workflow
cut_short = ledger_counts(ledger).notifications < len(orders)
dbos_worker = WorkerProcess("worker-1", dbos_url).start()  # same id: recovers its work
done: list[dict] = [
    dbos_client.retrieve_workflow(o).get_result(polling_interval_sec=0.05) for o in orders
]
counts = ledger_counts(ledger)
print(f"killed before every workflow had finished: {cut_short}")
print(f"completed after the restart: {len(done)} of {len(orders)}")
print(f"finished steps that ran again: {counts.finished_steps_redone}")
print(f"notifications: {counts.notifications} ({counts.duplicate_notifications} duplicates)")

# %%
# Pause and resume: cancel stops a workflow between two steps, resume goes on from there.
enqueue_pipeline(dbos_client, "order-9", "late report", 0.3, str(ledger))
wait_until(lambda: any(r["wf"] == "order-9" for r in read_ledger(ledger)), 120)
dbos_client.cancel_workflow("order-9")
paused = dbos_client.retrieve_workflow("order-9").get_status().status
dbos_client.resume_workflow("order-9")
late: dict = dbos_client.retrieve_workflow("order-9").get_result(polling_interval_sec=0.05)
# A request sent twice (a double click, a retried POST): one workflow id, one workflow.
for _ in range(2):
    twice = enqueue_pipeline(dbos_client, "order-10", "urgent report", 0.0, str(ledger))
twice.get_result(polling_interval_sec=0.05)
counts = ledger_counts(ledger)
print(f"order-9: {paused} after cancel, then resumed: {len(late['results'])} steps done")
print(
    f"workflows run (order-10 sent twice): {counts.workflows}, finished steps that ran again: "
    f"{counts.finished_steps_redone}, notifications: {counts.notifications} "
    f"({counts.duplicate_notifications} duplicates)"
)

# %% [markdown]
# The audit trail needs no second log: it is DBOS's own record of every workflow
# (status, executor, application version) and step (order, output, start and end).
# Pause and resume are `cancel_workflow` / `resume_workflow`; a deploy that changes
# the pinned application version moves in-flight work onto the new code with
# `fork_workflow` (`durable.worker.fork_onto`); queues take a per-process
# concurrency cap and a rate limit (`DBOS.register_queue`).

# %% tags=["nbval-ignore-output", "why:timing"]
for row in workflow_rows(dbos_client, workflow_ids=orders):
    print(row.workflow_id, row.status, row.executor_id, row.app_version)
title = "order-0 in DBOS's record (the gap: kill, restart)"
draw_timeline(step_rows(dbos_client, orders[0]), title=title)
plt.show()
dbos_worker.stop()
dbos_client.destroy()

# %% [markdown]
# ## Summary
#
# - Durable execution is step memoization: store each step's result under the
#   job's id as soon as it finishes; on a retry, finished steps return their result
#   and only the interrupted step runs again. RQ re-runs the job, Redis remembers.
# - A worker killed mid-job leaves its job *started*; RQ's abandoned-job cleanup
#   (`StartedJobRegistry.cleanup`, run by worker maintenance after the heartbeat
#   lapses) re-enqueues it while retries remain. Finished steps re-executed: 0.
# - Faults stay visible and bounded: a corrupted checkpoint is detected and the
#   step re-run; a step that always fails ends in the FailedJobRegistry after its
#   retry budget, with the audit trail saying why.
# - Side effects go through `run.once` with an idempotency key the receiver
#   deduplicates on: one notification per job, however many attempts.
# - Deploys and pauses lose nothing: a warm shutdown finishes jobs in flight, a
#   hard one leaves them to resume from their checkpoints; `suspend`/`resume`
#   holds the queue between jobs.
# - A real engine does all of this for you: DBOS records each step, a restarted
#   worker recovers the workflows of the one killed with SIGKILL (the counts above
#   were measured on a real process), and its own record is the audit trail.

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
# ← [07 · Batch at scale](07_batch_at_scale.ipynb) | [Course index](../README.md#lessons) | [09a · Research assistant v1: the chat box](09a_research_v1_chat_box.ipynb) →
#
# **Lab:** [Lab 08 · Durability](../labs/08_durability.ipynb) · [solution](../solutions/08_durability.ipynb)
