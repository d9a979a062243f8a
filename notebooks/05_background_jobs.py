# %% [markdown]
# # 05 · Background jobs
#
# Some AI work takes minutes, and nobody needs to watch it happen: a report, a
# summary of a long document, a thousand product descriptions. Run it inside the
# web request and the request has to stay open for minutes - which, as notebook
# 04 measured, an edge, a deploy or a closed tab will end, and which ties the
# answer to one browser tab. The alternative is old and boring in the best
# sense: put the work in a **queue**, let a **worker** do it, tell the user when
# it is **done**. This notebook does that with a real job runner, RQ, measures
# what it buys you - and measures why a chat reply must not take that road.

# %% [markdown]
# ## What you will learn
#
# - Measure the difference between holding a request for a two-minute task and
#   enqueueing it: minutes against milliseconds.
# - Follow a job through its lifecycle (queued, started, finished, failed), read
#   its result and its progress, and watch many jobs on a live board.
# - Notify the user when a job ends - an RQ callback that sends a real email
#   (SMTP), and an RQ webhook - into an inbox.
# - Kill a home-made queue's process for real and count what it loses, against
#   RQ with its worker killed mid-job.
# - Route a chat reply through the queue and measure when the user sees its
#   first word, against a stream.
#
# Retries, rate limits, scheduling, exactly-once notifications and checked
# arguments are in the optional
# [Going further](05x_background_jobs_going_further.ipynb) notebook.

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
# A job times itself on its own schedule (`jobs.JobSchedule`): its stated waits plus
# the time the simulator scheduled for each of its model calls. A busy machine
# stretches the wall clock, not the schedule, so the durations below are the same
# on every run.
#
# ## 1. A request should not hold a two-minute task
#
# The course's report (`stream_or_queue.jobs.tasks`) gathers data for each of its
# four sections and has the model write it: about two simulated minutes. Run it
# the way a web handler would - synchronously, while the user's request waits:

# %%
import time

from stream_or_queue import config, jobs
from stream_or_queue.jobs import tasks

report = tasks.slow_report("heat pumps")
held_s = report["seconds"]  # the report's own schedule: gathering plus the model's writing
gathering_s = len(report["sections"]) * config.REPORT_GATHER_S
print(
    f"the request was held for {held_s:.0f} s (simulated): {gathering_s:.0f} s gathering "
    f"data, {held_s - gathering_s:.0f} s of the model writing"
)
print(f"the course's edge ends requests at {config.DEFAULT_EDGE_TIMEOUT_S:.0f} s")
assert held_s > config.DEFAULT_EDGE_TIMEOUT_S

# %% [markdown]
# Now the other way: `jobs.enqueue_report(...)` checks the arguments, writes the
# job to Redis and returns. A web handler would answer with the job's id at once.
# No model call and no gathering happen here, so this one is a real-time figure:
# what a Redis write costs on this machine.

# %%
start = time.perf_counter()
job = jobs.enqueue_report("heat pumps")
enqueue_real_s = time.perf_counter() - start
print(f"enqueue returned the job's id after {1000 * enqueue_real_s:.1f} ms (real time)")
print(f"the held request: {held_s:.0f} s - minutes against milliseconds")
assert enqueue_real_s < 1.0 < held_s

# %% [markdown]
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
# A worker imports the job's function by its module and name, which is why job
# functions live in modules (RQ refuses one defined in a notebook cell). Start
# workers: `start_workers` picks what fits where the queue lives - threads on
# fakeredis, `rq worker` processes on a real Redis. Then watch the job's status
# change, and read its result:

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
view = jobs.describe(job)
result = view.result
print(
    f"{view.status}: report on {result['topic']!r}, {len(result['sections'])} sections, "
    f"{result['words']} words, ${result['cost_usd']:.4f}, "
    f"{result['seconds']:.0f} s of the worker's time (simulated)"
)
for section in result["sections"]:
    print(f"- {section['title']}: {section['text'][:60]}...")
assert seen[-1] == "finished"

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
# refreshes itself while you work in other cells. Enqueue three reports and watch
# it; each progress report also says when it happened on the job's own schedule
# (`at_s`), which `jobs.progress_timeline` reads back:

# %%
from stream_or_queue.widgets import JobBoard

board = JobBoard()
board

# %%
reports = [jobs.enqueue_report(topic) for topic in ("solar roofs", "e-bikes", "rail freight")]
for r in reports:
    jobs.wait(r, timeout=60)
print("where each report stood one simulated minute after it started:")
for r in reports:
    at_s, percent, step = [entry for entry in jobs.progress_timeline(r) if entry[0] <= 60][-1]
    print(f"  {r.meta['title']:26s} {percent:5.1f}%  {step} (since {at_s:.0f} s)")

# %%
history = jobs.progress_history(reports[0])
print(history)
print(f"{len(history)} progress reports: one per section and one at the end")
assert all(jobs.describe(r).status == "finished" for r in reports)
assert len(history) == len(tasks.REPORT_SECTIONS) + 1

# %% [markdown]
# A web page can poll that progress, or stream it as events - notebook 06 does
# both.
#
# ## 4. Tell the user when it is done
#
# The user walked away; now tell them. Two real channels, both landing in an
# inbox kept in Redis:
#
# - an **email**: RQ calls `jobs.notify_success` (an `on_success` callback) in
#   the worker when the job ends; it sends a real email over SMTP to a mail
#   catcher listening on 127.0.0.1, which files it in the inbox. A callback can
#   run twice (a retried job calls back again), so the sender claims a key in
#   Redis before sending: the Going further notebook runs it three times and
#   counts one email;
# - a **webhook**: RQ's built-in `Webhook` POSTs a small JSON document to a URL
#   when the job finishes - here a receiver on 127.0.0.1 that files it too.

# %%
from IPython.display import display

from stream_or_queue.widgets import Inbox

store = jobs.Inbox()
catcher = jobs.MailCatcher(store).start()
receiver = jobs.WebhookReceiver(store).start()
inbox = Inbox(store)
display(inbox)

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
print(email.body.replace(job.id, "<job id>"))

# %% [markdown]
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
# ## 6. Don't build your own queue: a killed process, measured
#
# The home-made alternative is always the same dozen lines: a list of pending
# work and a thread that takes from it. It works - until the process goes away
# (a deploy, an out-of-memory kill, a crash), and the list goes with it.

# %%
from stream_or_queue.jobs.naive import NaiveQueue

print(inspect.getsource(NaiveQueue))

# %% [markdown]
# `python -m stream_or_queue.jobs.naive` runs it as a program of its own with
# twenty 5-second jobs. Start it, and once it reports its fifth job done, kill
# its process with SIGKILL - what the kernel does to a process out of memory.
# This kill is real, so it runs on the wall clock, a little slower than the rest
# of the notebook: a job lasts a quarter of a real second, time enough for the
# kill to land while the sixth runs.

# %%
# Predict first: pick an answer before you run the next cell; the cell after
# the measurement puts it beside what was measured.
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("05_background_jobs", only=["lost-in-a-restart"])

# %%
import signal
import subprocess
import sys

CRASH_SCALE = 0.05  # real s per simulated s: a job lasts 0.25 real s, time enough to kill it
naive = subprocess.Popen(
    [
        sys.executable,
        "-m",
        "stream_or_queue.jobs.naive",
        "--jobs",
        "20",
        "--seconds",
        "5",
        "--time-scale",
        f"{CRASH_SCALE:g}",
    ],
    stdout=subprocess.PIPE,
    text=True,
)
lines = []
try:
    for line in naive.stdout:  # bounded: the program prints 21 lines at most
        lines.append(line.strip())
        if line.strip() == "done 5":
            naive.send_signal(signal.SIGKILL)
            break
    lines += [line.strip() for line in naive.stdout]  # whatever it printed before it died
finally:
    if naive.poll() is None:
        naive.kill()
    naive.wait(timeout=10)
    naive.stdout.close()
naive_done = sum(line.startswith("done") for line in lines)
naive_lost = 20 - naive_done
print(f"exit status {naive.returncode} (killed by signal {-naive.returncode})")
print(f"naive queue: submitted 20, finished {naive_done}, lost {naive_lost}")
assert naive.returncode == -signal.SIGKILL and naive_lost > 0

# %% [markdown]
# Nothing outside that process knew about the other jobs: restarting the
# program starts from an empty list. Now RQ, treated the same way and at the
# same pace: its worker is **killed in the middle of a job** - once the sixth
# job has started, after five finished (on fakeredis its thread can no longer
# reach Redis; on a real Redis its `rq worker` process gets SIGKILL).

# %%
from rq import Retry

crash_queue = jobs.get_queue("crash-demo")
rq_jobs = [crash_queue.enqueue(tasks.sleep_for, 5.0, retry=Retry(max=1)) for _ in range(20)]
with config.time_scale_set_to(CRASH_SCALE):  # the naive queue's pace, for the kill
    crashing = jobs.start_workers(1, queues=["crash-demo"])
    deadline = time.monotonic() + 30
    while jobs.get_progress(rq_jobs[5]) is None and time.monotonic() < deadline:
        time.sleep(0.001)  # the sixth job reports progress as soon as it starts
    crashing.kill()
states = [jobs.describe(j).status for j in rq_jobs]
print("right after the crash:", {s: states.count(s) for s in sorted(set(states))})

# %% [markdown]
# Every job is still in Redis: the finished ones with their results, the waiting
# ones in the queue, and the one that was running in the **started** registry,
# whose worker stopped sending heartbeats. RQ's maintenance (every 10 minutes by
# default) notices it once that heartbeat has expired and, as the job allows a
# retry, puts it back in the queue. `jobs.recover` runs the same check now, as a
# restarted process would; then a new worker works through the queue:

# %%
print("recovered:", jobs.recover("crash-demo"))
with jobs.start_workers(1, queues=["crash-demo"]):
    for j in rq_jobs:
        jobs.wait(j, timeout=60)
rq_finished = sum(jobs.describe(j).status == "finished" for j in rq_jobs)
rq_lost = 20 - rq_finished
print(f"naive queue: submitted 20, finished {naive_done:2d}, lost {naive_lost}")
print(f"RQ:          submitted 20, finished {rq_finished:2d}, lost {rq_lost}")
assert rq_lost == 0 and naive_lost > 0

lost = f"home-made queue lost {naive_lost}, RQ lost {rq_lost}"
Quiz.compare("05_background_jobs", "lost-in-a-restart", f"{lost} of 20 jobs")

# %% [markdown]
# ## 7. A chat through the queue: the dead chat, measured
#
# If queues are this good, why not queue everything - a chat reply too? Route
# one chat turn through the queue as a job (`tasks.chat_reply`), and compare the
# moment the user sees the first word with a streamed reply to the same question
# - with idle workers, and with the workers busy on three reports, as they are
# whenever the queue has work. The jobs run for real; the moments come from their
# schedules: a reply is ready when a worker is free plus the time the worker took,
# and the user sees it at the first poll of notebook 06's client after that.

# %%
import statistics

from stream_or_queue import clock
from stream_or_queue.llm import client
from stream_or_queue.streaming import measure_stream
from stream_or_queue.web.clients import backoff_delays

CHAT = "What should I check before buying a heat pump?"
print(
    "assumption: the client polls after 1 s, then twice as long each time, up to "
    "15 s (web.clients.backoff_delays, notebook 06's polling client)"
)
print(
    f"assumption: a chat stops feeling like a conversation after "
    f"{config.SLOW_CHAT_REPLY_S:.0f} s (config.SLOW_CHAT_REPLY_S, from the source article)"
)


def first_poll_after(ready_s: float) -> float:
    """When the polling client first finds a reply that is ready `ready_s` after the question."""
    polled_s = 0.0
    for delay in backoff_delays():
        polled_s += delay
        if polled_s >= ready_s:
            return polled_s
    raise AssertionError("unreachable: backoff_delays never ends")


streamed = []
for _ in range(5):
    with clock.simulated():  # a simulated timeline: the stream's exact time to first token
        stats = measure_stream(
            client(),
            model=config.LARGE_MODEL,
            max_tokens=400,
            stop_after_tokens=1,  # the first word is all this measures
            messages=[{"role": "user", "content": CHAT}],
        )
    streamed.append(stats.ttft_s)
streamed_ttft = statistics.median(streamed)
idle_turn = queue.enqueue(tasks.chat_reply, CHAT)  # three idle workers: one takes it at once
jobs.wait(idle_turn, timeout=60)
queued_idle = first_poll_after(idle_turn.return_value()["seconds"])
busy = [jobs.enqueue_report(t) for t in ("wind farms", "heat networks", "home batteries")]
busy_turn = queue.enqueue(tasks.chat_reply, CHAT)  # waits for the first worker to be free
for j in [*busy, busy_turn]:
    jobs.wait(j, timeout=60)
first_free_s = min(r.return_value()["seconds"] for r in busy)
assert jobs.describe(busy_turn).started_at >= min(jobs.describe(r).ended_at for r in busy)
queued_busy = first_poll_after(first_free_s + busy_turn.return_value()["seconds"])
print(f"the first of the three reports freed a worker after {first_free_s:.0f} s")
print("time until the user sees the first word of the reply (simulated):")
print(f"  streamed (median of 5):      {streamed_ttft:6.1f} s")
print(f"  queued, idle workers:        {queued_idle:6.1f} s")
print(f"  queued behind three reports: {queued_busy:6.1f} s")
assert streamed_ttft < queued_idle < queued_busy
assert queued_busy > config.SLOW_CHAT_REPLY_S
print(
    f"Through the queue the first word came {queued_idle / streamed_ttft:.0f} times later "
    f"than streamed with idle workers, and {queued_busy:.0f} s after the question behind "
    f"three reports: past the {config.SLOW_CHAT_REPLY_S:.0f} s at which a chat stops flowing."
)

# %% [markdown]
# A queue adds the wait for a free worker and for the next poll, and shows
# nothing until the whole reply is written; a stream shows the first word as
# soon as the model writes it. Chat stays a stream; the queue is for work
# nobody watches.
#
# The workers, the board, the inbox and the two local servers keep running while
# this notebook is open, so after Run All you can scroll back, enqueue more
# reports and watch them move. They stop with the kernel; to stop them earlier,
# run `board.stop(); inbox.stop(); workers.stop(); receiver.stop(); catcher.stop()`.
# On a real Redis (`REDIS_URL`) the workers are separate `rq worker` processes,
# which must not outlive the kernel, so they stop here.

# %%
if config.redis_url():
    workers.stop()
print("workers running:", workers.running)

# %% [markdown]
# ## Summary
#
# - A two-minute task held in a web request is ended by the edge; enqueueing it
#   returns a job id at once, and the work happens elsewhere (step 1).
# - A job goes queued -> started -> finished (or failed); its result and its
#   progress live in Redis, readable by anyone with the id.
# - Notify when done: an RQ callback sends an email, an RQ webhook posts JSON.
# - Failed jobs are kept with their tracebacks.
# - A home-made queue whose process was killed lost every job it had not
#   finished; RQ, with its worker killed mid-job, lost none (step 6).
# - A chat turn through the queue shows its first word far later than a stream,
#   and past the point where a chat flows once the workers are busy (step 7).

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
# ← [04 · Why long sync requests fail](04_why_long_sync_requests_fail.ipynb) | [Course index](../README.md#lessons) | [05x · Background jobs: going further (optional)](05x_background_jobs_going_further.ipynb) →
#
# **Lab:** [Lab 05 · Background jobs](../labs/05_background_jobs.ipynb) · [solution](../solutions/05_background_jobs.ipynb)
