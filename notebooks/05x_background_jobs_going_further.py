# %% [markdown]
# # 05x · Background jobs: going further (optional)
#
# **Optional.** Notebook 05 is the lesson; this one is for after it, or for the
# engineer who will run RQ in production. It measures what a real job runner
# gives you beyond persistence - each feature one line of RQ, run here - and the
# details that make a notification go out exactly once.

# %% [markdown]
# ## What you will learn
#
# - Why job functions must live in modules, as RQ's own error says.
# - Make a notification go out once although its callback runs three times.
# - Refuse bad input before anything is queued.
# - Retry flaky work with `Retry`, cap concurrency with `RateLimit`, run a job
#   later with `enqueue_in` - and count what each did.

# %% [markdown]
# ## Setup

# %%
import time

from stream_or_queue import jobs
from stream_or_queue.course import setup
from stream_or_queue.jobs import tasks

env = setup(seed=0)
workers = jobs.start_workers(3, queues=["default", "limited"], with_scheduler=True)
queue = jobs.get_queue()
store = jobs.Inbox()
catcher = jobs.MailCatcher(store).start()
receiver = jobs.WebhookReceiver(store).start()

# %% [markdown]
# Three workers (one of them also runs RQ's scheduler, which retries and delayed
# jobs need), and the mail catcher and webhook receiver of notebook 05, both on
# 127.0.0.1.
#
# ## 1. Job functions live in modules
#
# A worker imports the job's function by its module and name. RQ refuses a
# function defined in a notebook cell, whose module is `__main__`: a worker
# process could never import it.


# %%
def write_in_a_cell(topic):
    return topic


try:
    queue.enqueue(write_in_a_cell, "heat pumps")
except ValueError as error:
    print("refused:", error)

# %% [markdown]
# ## 2. Exactly one email
#
# A callback can run twice: RQ runs the success callback just before it records
# the job as finished, so a worker that dies in between leaves a job that is
# retried - and notified - again. Send a report with an email and a webhook,
# then run the callback twice more, as a retry would, and send the same email
# again by hand, as a crash after sending would:

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
email = store.list(job_id=job.id, to="ana@example.com")[0]
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
# ## 3. Bad input is refused before anything is queued
#
# `enqueue_report` checks its arguments before anything is queued, and an
# unknown job id is a clear error:

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
# ## 4. Retries
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
assert attempts == 3

# %% [markdown]
# ## 5. Rate limits and scheduled jobs
#
# Six 20-second jobs on a queue with a concurrency limit of 2 (`RateLimit`, run
# in Redis by a Lua script), and one job due a second from now:

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

# %% [markdown]
# ## 6. What a job runner gives you, measured
#
# Each row is one line of RQ, with what it did in this notebook (persistence was
# measured in notebook 05, with a worker killed mid-job):

# %%
from IPython.display import Markdown

webhooks_for_job = len([m for m in store.list(job_id=job.id) if m.channel == "webhook"])
rows = [
    (
        "Registries",
        "`queue.failed_job_registry.get_job_ids()`",
        "failed jobs kept, with their traceback (notebook 05)",
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
        f"at most {peak} of {len(limited)} jobs at once with {len(workers)} workers",
    ),
    (
        "Callbacks",
        "`on_success=Callback(notify_success)`",
        f"{len(emails)} email, though the callback ran 3 times",
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

# %%
from stream_or_queue import config

if config.redis_url():
    workers.stop()
print("workers running:", workers.running)

# %% [markdown]
# ## Summary
#
# - Job functions live in importable modules; RQ says so when they do not.
# - An idempotency key claimed before sending, and kept by the receiver, turns a
#   callback that runs three times into one email.
# - Checked arguments fail before anything is queued.
# - `Retry`, `RateLimit` and `enqueue_in` are one line each, and each did what
#   it says in the table above.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("05x_background_jobs_going_further")

# %% [markdown]
# ## Lab
#
# This optional notebook shares [Lab 05](../labs/05_background_jobs.ipynb).
# ([solution](../solutions/05_background_jobs.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [05 · Background jobs](05_background_jobs.ipynb) | [Course index](../README.md#lessons) | [06 · Start, then poll](06_start_then_poll.ipynb) →
#
# **Lab:** [Lab 05 · Background jobs](../labs/05_background_jobs.ipynb) · [solution](../solutions/05_background_jobs.ipynb)
