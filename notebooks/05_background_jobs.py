# %% [markdown]
# # 05 · Background jobs
#
# Some AI work takes minutes, and nobody needs to watch it happen: a report, a
# summary of a long document, a thousand product descriptions. Run it inside the
# web request and the request has to stay open for minutes - which, as notebook
# 04 measured, the edge will not allow, and which ties the answer to one browser
# tab. The alternative is old and boring in the best sense: put the work in a
# **queue**, let a **worker** do it, tell the user when it is **done**. This
# notebook does that with a real job runner, RQ, and measures what it buys you.

# %% [markdown]
# ## What you will learn
#
# - Measure the difference between holding a request for a two-minute task and
#   enqueueing it: minutes against milliseconds.
# - Follow a job through its lifecycle (queued, started, finished, failed), read
#   its result and its progress, and watch many jobs on a live board.
# - Notify the user when a job ends - an RQ callback that sends a real email
#   (SMTP) exactly once, and an RQ webhook - into an inbox.
# - Keep failures: the failed-job registry with tracebacks, and automatic
#   retries with `Retry`.
# - Measure what a home-made background thread loses when the kernel restarts,
#   and what RQ loses (nothing) - and see what else RQ gives you for free.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

# %% [markdown]
# By default the queue lives in **fakeredis**, an in-process Redis, and the
# workers are threads of this kernel: nothing to install. Set `REDIS_URL` to a
# real Redis and the same cells run against it, with real `rq worker` processes
# (RQ's forking worker) instead of threads - the way you would scale this past
# one machine. Durations are in simulated seconds unless labelled "real".
#
# ## 1. A request should not hold a two-minute task
#
# The course's report (`stream_or_queue.jobs.tasks`) gathers data for each of its
# four sections and has the model write it: about two simulated minutes. Run it
# the way a web handler would - synchronously, while the user's request waits:

# %% tags=["nbval-ignore-output", "why:timing"]
import time

from stream_or_queue import clock, config, jobs
from stream_or_queue.jobs import tasks

watch = clock.Stopwatch()
report = tasks.slow_report("heat pumps")
held_s = watch.elapsed
print(
    f"the request was held for {held_s:.0f} s (simulated); "
    f"the edge cuts at {config.DEFAULT_EDGE_TIMEOUT_S:.0f} s"
)
assert held_s > config.DEFAULT_EDGE_TIMEOUT_S

# %% [markdown]
# Behind the usual 60 s edge this request never gets its answer. Now the other
# way: `jobs.enqueue_report(...)` checks the arguments, writes the job to Redis
# and returns. A web handler would answer with the job's id at once.

# %% tags=["nbval-ignore-output", "why:timing"]
start = time.perf_counter()
job = jobs.enqueue_report("heat pumps")
enqueue_ms = (time.perf_counter() - start) * 1000
print(f"enqueue returned job {job.id} after {enqueue_ms:.1f} ms")
print(f"that is {held_s / clock.to_sim(enqueue_ms / 1000):,.0f} times sooner than the held request")
assert enqueue_ms < 1000

# %% [markdown]
# (The ratio compares simulated seconds with simulated seconds: both figures were
# measured on the same clock.)
#
# ## 2. Enqueue, job id, lifecycle, result
#
# The job id is all a caller needs: anyone - another request, another process,
# another machine - can look the job up with it. Nothing works on the job yet:
# no worker is running, so it waits in the queue.

# %%
same = jobs.fetch(job.id)
print("status:", jobs.describe(same).status)
print("function:", same.func_name)
print("arguments:", same.args)
time.sleep(0.2)
print("0.2 real s later, still:", jobs.describe(same).status)


# %% [markdown]
# A worker imports the job's function by its module and name. That is why job
# functions live in modules: RQ refuses a function defined in a notebook cell,
# whose module is `__main__` - a worker process could never import it.


# %%
def write_in_a_cell(topic):
    return topic


try:
    jobs.get_queue().enqueue(write_in_a_cell, "heat pumps")
except ValueError as error:
    print("refused:", error)

# %% [markdown]
# Start workers. `start_workers` picks what fits where the queue lives: threads
# on fakeredis, `rq worker` processes on a real Redis. One of them also runs RQ's
# scheduler, which we need for retries and delayed jobs later. Then watch the
# job's status change:

# %%
seen = [jobs.describe(job).status]
workers = jobs.start_workers(3, queues=["default", "limited"], with_scheduler=True)
deadline = time.monotonic() + 60
while seen[-1] not in ("finished", "failed") and time.monotonic() < deadline:
    status = jobs.describe(job).status
    if status != seen[-1]:
        seen.append(status)
    time.sleep(0.005)
print(" -> ".join(seen))

# %% tags=["nbval-ignore-output", "why:timing"]
view = jobs.describe(job)
result = view.result
print(
    f"{view.status}: report on {result['topic']!r}, {len(result['sections'])} sections, "
    f"{result['words']} words, ${result['cost_usd']:.4f}"
)
for section in result["sections"]:
    print(f"- {section['title']}: {section['text'][:60]}...")
print(
    f"queued {view.started_at - view.enqueued_at:.2f} real s, "
    f"ran {view.ended_at - view.started_at:.2f} real s"
)

# %% [markdown]
# The result lives in Redis too (for `config.JOB_RESULT_TTL_S`, a day here): the
# user can come back for it tomorrow, from another device, with the job id.
#
# ## 3. Progress
#
# A background job has no screen, so it writes its progress where others can
# read it: into the job's `meta` in Redis. The report job calls
# `report_progress(percent, step, message)` before each section - the only
# difference from the synchronous report:

# %%
import inspect

print(inspect.getsource(tasks.report_job))

# %% [markdown]
# `JobBoard` reads every job on a queue, with its status and progress, and
# refreshes itself while you work in other cells. Enqueue three reports and watch:

# %%
from stream_or_queue.widgets import JobBoard

board = JobBoard()
board

# %% tags=["nbval-ignore-output", "why:timing"]
reports = [jobs.enqueue_report(topic) for topic in ("solar roofs", "e-bikes", "rail freight")]
time.sleep(0.6)
for r in reports:
    p = jobs.get_progress(r)
    print(
        f"{r.meta['title']:28s} {jobs.describe(r).status:9s} "
        f"{p.percent if p else 0:5.1f}%  {p.message if p else ''}"
    )

# %%
for r in reports:
    jobs.wait(r, timeout=60)
print(jobs.progress_history(reports[0]))
assert all(jobs.describe(r).status == "finished" for r in reports)

# %% [markdown]
# The progress history is the same on every run: five reports, one per section
# and one at the end. A web page can poll it, or stream it as events - notebook
# 06 does both.
#
# ## 4. Tell the user when it is done
#
# The user walked away; now tell them. Two real channels, both landing in an
# inbox kept in Redis:
#
# - an **email**: RQ calls `jobs.notify_success` (an `on_success` callback) in
#   the worker when the job ends; it sends a real email over SMTP to a mail
#   catcher listening on 127.0.0.1, which files it in the inbox;
# - a **webhook**: RQ's built-in `Webhook` POSTs a small JSON document to a URL
#   when the job finishes - here a receiver on 127.0.0.1 that files it too.

# %%
from stream_or_queue.widgets import Inbox

store = jobs.Inbox()
catcher = jobs.MailCatcher(store).start()
receiver = jobs.WebhookReceiver(store).start()
inbox = Inbox(store)
inbox

# %%
job = jobs.enqueue_report(
    "heat pumps",
    sections=["Summary"],
    notify_email="ana@example.com",
    webhooks=[receiver.webhook("finished")],
)
jobs.wait(job)
deadline = time.monotonic() + 10
while len(store.list(job_id=job.id)) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
for message in store.list(job_id=job.id):
    print(f"{message.channel:8s} to {message.to:16s} {message.subject}")
email = store.list(job_id=job.id, to="ana@example.com")[0]
print()
print(email.body)

# %% [markdown]
# **Exactly once.** A callback can run twice: RQ runs the success callback just
# before it records the job as finished, so a worker that dies in between leaves
# a job that is retried - and notified - again. Run the callback twice more, as a
# retry would, and send the same email again by hand, as a crash after sending
# would:

# %%
result = job.return_value()
jobs.notify_success(job, job.connection, result)
jobs.notify_success(job, job.connection, result)
jobs.send_email(
    "ana@example.com",
    email.subject,
    email.body,
    job_id=job.id,
    idempotency_key=f"job|{job.id}|finished",
)
time.sleep(0.2)
emails = store.list(job_id=job.id, to="ana@example.com")
print(f"callback ran 3 times, email sent again by hand: {len(emails)} email in the inbox")
print(f"duplicates the inbox dropped: {store.duplicates_dropped}")
assert len(emails) == 1

# %% [markdown]
# Two layers make it one email. The sender claims a key in Redis with `SET key
# NX` before sending, so a second run of the callback finds the key and sends
# nothing. The email carries the same key in a header, and the inbox keeps one
# message per key, which covers the last gap: a crash after the mail server took
# the message but before the sender marked it sent.
#
# ## 5. Failures are kept, with their traceback
#
# A job that raises is not lost: RQ moves it to the **failed-job registry**, with
# the traceback, where you (or a dashboard, or an alert) can find it and requeue
# it.

# %%
import re

queue = jobs.get_queue()
failing = queue.enqueue(tasks.always_fails, "the upstream API returned 500")
jobs.wait(failing)
traceback_text = failing.latest_result().exc_string
print("status:", jobs.describe(failing).status)
print("in the failed-job registry:", failing.id in queue.failed_job_registry.get_job_ids())
print("frames:", " -> ".join(re.findall(r", in (\w+)", traceback_text)))
print("error:", traceback_text.strip().splitlines()[-1])

# %% [markdown]
# Bad input should not get that far. `enqueue_report` checks its arguments
# before anything is queued, and an unknown job id is a clear error:

# %%
from typing import Any

bad_inputs: list[dict[str, Any]] = [
    dict(topic=""),
    dict(topic="heat pumps", notify_email="ana"),
    dict(topic="heat pumps", sections=[]),
]
for bad in bad_inputs:
    try:
        jobs.enqueue_report(**bad)
    except jobs.InvalidJobArguments as error:
        print("refused:", error)
try:
    jobs.fetch("no-such-job")
except jobs.JobNotFound as error:
    print("JobNotFound:", error)

# %% [markdown]
# ## 6. Retries
#
# Upstream APIs fail for a moment: a 529, a dropped connection. `Retry` tells RQ
# to run the job again, after the intervals you give (in real seconds; RQ's
# scheduler moves the job back to the queue when it is due). `tasks.flaky`
# fails its first two attempts, counting them in Redis:

# %%
import secrets

from rq import Retry

attempts_key = secrets.token_hex(8)
flaky = queue.enqueue(tasks.flaky, 2, attempts_key, retry=Retry(max=3, interval=[1, 1, 1]))
jobs.wait(flaky, timeout=60)
attempts = flaky.return_value()
print(
    f"{jobs.describe(flaky).status} on attempt {attempts}, "
    f"retries left: {jobs.fetch(flaky.id).retries_left}"
)

# %% [markdown]
# ## 7. Don't build your own queue: a kernel restart, measured
#
# The home-made alternative is always the same dozen lines: a list of pending
# work and a thread that takes from it. It works - until the process goes away
# (a kernel restart, a deploy, an out-of-memory kill), and the list goes with it.
# Here it is, with twenty 5-second jobs and a restart after the fifth job:

# %%
import threading
from collections.abc import Callable
from typing import Any


class NaiveQueue:
    """The queue everyone writes once: a list and a thread, all in this process's memory."""

    def __init__(self, restart_after: int) -> None:
        self.pending: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.done: list[Any] = []
        self.restart_after = restart_after
        self.thread = threading.Thread(target=self._work, daemon=True)

    def submit(self, function, *args) -> None:
        self.pending.append((function, args))

    def _work(self) -> None:
        while self.pending:
            function, args = self.pending.pop(0)
            self.done.append(function(*args))
            if len(self.done) == self.restart_after:
                self.pending.clear()  # the kernel restarts: everything in memory is gone
                return


naive = NaiveQueue(restart_after=5)
for _ in range(20):
    naive.submit(tasks.sleep_for, 5.0)
naive.thread.start()
naive.thread.join(timeout=30)
naive_lost = 20 - len(naive.done)
print(f"naive thread: submitted 20, finished {len(naive.done)}, lost {naive_lost}")

# %% [markdown]
# Now RQ, treated worse: the worker is **killed in the middle of a job** (its
# thread can no longer reach Redis; on a real Redis its process gets SIGKILL) -
# the same thing that happens to a worker process in a deploy or an OOM kill.

# %% tags=["nbval-ignore-output", "why:timing"]
crash_queue = jobs.get_queue("crash-demo")
rq_jobs = [crash_queue.enqueue(tasks.sleep_for, 5.0, retry=Retry(max=1)) for _ in range(20)]
crashing = jobs.start_workers(1, queues=["crash-demo"])
deadline = time.monotonic() + 30
while crash_queue.finished_job_registry.count < 5 and time.monotonic() < deadline:
    time.sleep(0.001)
crashing.kill()
states = [jobs.describe(j).status for j in rq_jobs]
print("right after the crash:", {s: states.count(s) for s in sorted(set(states))})

# %% [markdown]
# Every job is still in Redis: the finished ones with their results, the waiting
# ones in the queue, and the one that was running in the **started** registry,
# whose worker stopped sending heartbeats. RQ's maintenance (every 10 minutes by
# default) notices it once that heartbeat has expired and, as the job allows a
# retry, puts it back in the queue. `jobs.recover` runs the same check now, as a
# restarted process would:

# %% tags=["nbval-ignore-output", "why:timing"]
recovery = jobs.recover("crash-demo")
print("recovered:", recovery)

# %% [markdown]
# Then a new worker - the "restarted kernel" - works through the queue:

# %%
with jobs.start_workers(1, queues=["crash-demo"]):
    for j in rq_jobs:
        jobs.wait(j, timeout=60)
rq_finished = sum(jobs.describe(j).status == "finished" for j in rq_jobs)
rq_lost = 20 - rq_finished
print(f"naive thread: submitted 20, finished {len(naive.done):2d}, lost {naive_lost}")
print(f"RQ:           submitted 20, finished {rq_finished:2d}, lost {rq_lost}")
assert rq_lost == 0 and naive_lost > 0

# %% [markdown]
# And persistence is only the first line of what a real job runner gives you.
# Each row below is one line of RQ, run in this notebook - the rest of the
# table is measured by the two cells after it.

# %%
from datetime import timedelta

from rq import RateLimit

limited_queue = jobs.get_queue("limited")
limited = [
    limited_queue.enqueue(tasks.sleep_for, 20.0, rate_limit=RateLimit("llm", concurrency=2))
    for _ in range(6)
]
later = queue.enqueue_in(timedelta(seconds=1), tasks.add, 2, 3)
status_before = jobs.describe(later).status
for j in [*limited, later]:
    jobs.wait(j, timeout=60)


def most_at_once(views):
    events = sorted([(v.started_at, 1) for v in views] + [(v.ended_at, -1) for v in views])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


peak = most_at_once([jobs.describe(j) for j in limited])
print(f"rate limit: at most {peak} of {len(limited)} jobs at once, with {len(workers)} workers")
print(
    f"delayed job: {status_before!r} until due, then {jobs.describe(later).status!r} "
    f"with result {later.return_value()}"
)
assert peak <= 2

# %%
from IPython.display import Markdown

emails_for_job = len(store.list(job_id=job.id, to="ana@example.com"))
webhooks_for_job = len([m for m in store.list(job_id=job.id) if m.channel == "webhook"])
rows = [
    (
        "Persistence",
        "`queue.enqueue(f, ...)` writes the job to Redis",
        f"{rq_finished} of 20 jobs finished despite a worker killed mid-job",
    ),
    (
        "Registries",
        "`queue.failed_job_registry.get_job_ids()`",
        "the failed job kept, with its traceback",
    ),
    (
        "Retries",
        "`retry=Retry(max=3, interval=[1, 1, 1])`",
        f"the flaky job finished on attempt {attempts}",
    ),
    (
        "Scheduling",
        "`queue.enqueue_in(timedelta(seconds=1), f)`",
        f"ran when due (result {later.return_value()})",
    ),
    (
        "Rate limits",
        '`rate_limit=RateLimit("llm", concurrency=2)`',
        f"at most {peak} of 6 jobs at once with {len(workers)} workers",
    ),
    (
        "Callbacks",
        "`on_success=Callback(notify_success)`",
        f"{emails_for_job} email, though the callback ran 3 times",
    ),
    ("Webhooks", '`webhooks=[Webhook(url, "finished")]`', f"{webhooks_for_job} webhook call"),
]
table = "| RQ gives you | in one line | measured in this notebook |\n|---|---|---|\n"
table += "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
Markdown(table)

# %% [markdown]
# Job dependencies (`depends_on`), timeouts, groups, cron schedules, and the
# `rq info` / dashboard tooling come with it too. Writing these yourself is
# weeks of work and a new set of bugs; the queue is not your product.
#
# The workers, the board, the inbox and the two local servers keep running while
# this notebook is open, so after Run All you can scroll back, enqueue more reports
# and watch them move. They run inside this kernel and stop with it (Kernel → Shut
# Down Kernel); to stop them earlier, run
# `board.stop(); inbox.stop(); workers.stop(); receiver.stop(); catcher.stop()`.
# The one exception: on a real Redis (`REDIS_URL`) the workers are separate
# `rq worker` processes, which must not outlive the kernel, so they stop here; run
# the cell that started them again to go on.

# %%
from stream_or_queue import config

if config.redis_url():
    workers.stop()
print("workers running:", workers.running)

# %% [markdown]
# ## Summary
#
# - A two-minute task held in a web request is cut by the edge; enqueueing it
#   returns a job id in milliseconds, and the work happens elsewhere.
# - A job goes queued -> started -> finished (or failed); its result and its
#   progress live in Redis, readable by anyone with the id.
# - Notify when done: an RQ callback sends one email even if it runs several
#   times (a `SET NX` key at the sender, one message per key at the receiver);
#   RQ webhooks work the same way.
# - Failed jobs are kept with their tracebacks; `Retry` re-runs flaky work.
# - A home-made thread queue lost 15 of 20 jobs in a restart; RQ lost none - and
#   comes with registries, retries, scheduling, rate limits and callbacks.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("05_background_jobs")

# %% [markdown]
# ## Lab
#
# [Lab 05](../labs/05_background_jobs.ipynb): take the slow synchronous report
# and make it a background job - a job module with progress, a checked
# `start_report` that enqueues it with a completion email, and checks that run it
# on a real worker.
# ([solution](../solutions/05_background_jobs.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [04 · Why long sync requests fail](04_why_long_sync_requests_fail.ipynb) | [Course index](../README.md#lessons) | [06 · Start, then poll](06_start_then_poll.ipynb) →
#
# **Lab:** [Lab 05 · Background jobs](../labs/05_background_jobs.ipynb) · [solution](../solutions/05_background_jobs.ipynb)
