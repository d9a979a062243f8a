# %% [markdown]
# # 06 · Start, then poll - and progress events
#
# Notebook 04 showed a one-minute agent failing inside one long request. The fix
# keeps the user in the loop without holding that request: the browser *starts*
# the work (`POST`, answered at once with a job id) and then *follows* it, either
# by asking for its status now and then (polling) or by listening to a stream of
# structured progress events (server-sent events, SSE). This notebook builds both
# clients against the course's web service and measures what each costs.

# %% [markdown]
# ## What you will learn
#
# - Start a job with `POST /jobs` (202 Accepted, a `Location` and an id) and read
#   it with `GET /jobs/{id}`.
# - Write a polling client that backs off, and count its requests.
# - Follow structured progress events (searching, reading, writing) over SSE, and
#   reattach after a disconnect with `Last-Event-ID` without missing an event.
# - Compare polling with SSE on the jobs' schedules: requests, responses held
#   open, and how soon each client notices that the job is done.
# - Cancel a running job from the page with one request back, and measure what
#   the agent did not do; decide when a WebSocket is worth its extra moving parts.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0, time_scale=0.01)

# %% [markdown]
# ## 1. Start, then poll
#
# `stream_or_queue.web` is a FastAPI service: jobs go on an RQ queue (the
# in-process fakeredis here, a real Redis with `REDIS_URL`), and a worker thread
# runs the research assistant. It sits behind the same simulated edge as in
# notebook 04, which cuts any request after 60 simulated seconds.

# %%
import httpx2

from stream_or_queue import config
from stream_or_queue.web import create_app, serve_in_thread

web = serve_in_thread(create_app(edge_timeout_s=config.DEFAULT_EDGE_TIMEOUT_S))
http = httpx2.Client(base_url=web.url, timeout=30)

response = http.post("/jobs", json={"question": "How should a research agent report progress?"})
job = response.json()
print(response.status_code, response.reason_phrase)
print("Location:", response.headers["location"].replace(job["id"], "{id}"))
print("id:", len(job["id"]), "random URL-safe characters")
print({key: job[key] for key in ("status", "progress", "result")})

# %% [markdown]
# The request took milliseconds: the answer is *accepted*, not done. The id is
# 128 random bits (`secrets.token_urlsafe`), so it can double as the permalink of
# the answer, and there is no endpoint that lists jobs. Bad input is refused
# before anything is queued:

# %%
for body in ({"question": "   "}, {"question": "x" * (config.WEB_QUESTION_MAX_CHARS + 1)}):
    refused = http.post("/jobs", json=body)
    print(refused.status_code, refused.json()["message"])
print(http.get("/jobs/" + "A" * 22).status_code, "for an id nobody was given")

# %% [markdown]
# ## 2. A polling client with backoff
#
# Polling is the simplest client: ask `GET /jobs/{id}` until the status is
# `finished`, `failed` or `canceled`. Asking every second is wasteful for a job
# that takes a minute, and asking every minute is slow to notice the end. A
# client with *backoff* starts fast and waits longer after each poll, up to a cap:

# %%
from itertools import islice

from stream_or_queue.web.clients import backoff_delays, poll_job

print([delay for delay in islice(backoff_delays(first_s=1.0, factor=2.0, max_s=15.0), 8)])

# %%
outcome = poll_job(http, job["id"], first_s=1.0, factor=2.0, max_s=15.0)
print(outcome.status, "after", "several polls" if outcome.polls > 1 else "one poll")
assert outcome.status == "finished" and outcome.polls > 1

# %% [markdown]
# How many polls that took depends on when this cell started, so count them on
# the job's **schedule** instead: the simulator decides each model call's timing
# from the request, and each tool's duration from its input, so one run of the
# question at time scale 0 records exactly how long the job takes
# (`research.schedule.record`). `poll_moments` is the same client as
# arithmetic: when it asks, for a job that ends at a given moment (a test runs
# the real client against the service and checks they agree).

# %%
from stream_or_queue.research.schedule import record
from stream_or_queue.web.clients import poll_moments

took_s = record(job["question"]).total_s
asked = poll_moments(took_s, first_s=1.0, factor=2.0, max_s=15.0)
print(f"the job takes {took_s:.1f} s (simulated); a client polling from the moment it started it")
print("asks at", ", ".join(f"{t:g}" for t in asked), "s")
print(f"{len(asked)} polls; it notices the end {asked[-1] - took_s:.1f} s after it happened")

# %% [markdown]
# Between two polls the client knows nothing. What it saw is only the latest
# `progress` of each poll - the steps in between are lost to it.
#
# ## 3. Progress events over SSE
#
# `GET /jobs/{id}/events` is a stream of server-sent events. The job writes each
# step to a Redis stream as it happens; the service sends them on, each with an
# id, and ends with a `done` event. `follow_events` reads them:

# %%
import json

from stream_or_queue.web.clients import follow_events

job_id = http.post("/jobs", json={"question": "When do users abandon a slow page?"}).json()["id"]
log = follow_events(http, job_id)
for event in log.events:
    data = json.loads(event.data)
    print(f"{event.event:8s} {data['step']:9s} {data['percent']:3d}%  {data['message']}")

# %% [markdown]
# The steps are structured (`step`, `percent`, `message`), so a page can show
# where the job is, not just a spinner. The final event carries the result, so
# the SSE client needs no extra request.
#
# ## 4. Reattaching after a disconnect
#
# Connections drop: a phone changes network, a laptop sleeps, an edge cuts a
# long response. Every event has an id; a client that reconnects sends the last
# one it saw as `Last-Event-ID`, and the service resumes right after it (the
# events live in Redis, so this works even across a restart of the web process).
# Hang up after four events, then reattach:

# %% [markdown]
# **Predict first.** Before you run the next cell, pick an answer; the cell after
# the measurement puts it beside what was measured (the quick check at the end
# asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("06_start_then_poll", only=["reattach"])

# %%
job_id = http.post("/jobs", json={"question": "Why keep job progress in Redis?"}).json()["id"]
first = follow_events(http, job_id, stop_after=4)
print("first connection:", len(first.events), "events, then the client hung up")
second = follow_events(http, job_id, last_event_id=first.last_event_id)
print(
    "reattached with Last-Event-ID:", len(second.events), "more events, ending with", second.status
)
replay = follow_events(http, job_id)
ids = [e.id for e in first.events + second.events]
missed = len({e.id for e in replay.events} - set(ids))
print(f"missed: {missed}, received twice: {len(ids) - len(set(ids))}")
assert missed == 0 and len(ids) == len(set(ids)) == len(replay.events)


# %%
again = f"{len(second.events)} more events, ending with {second.status}"
Quiz.compare("06_start_then_poll", "reattach", f"the second connection delivered {again}")

# %% [markdown]
# The edge cuts the event stream too: it is a request that stays open for as
# long as the client watches. A browser's `EventSource` reconnects by itself with
# `Last-Event-ID` (the service's first event says how soon, with `retry:`), and
# `follow_events` does the same. Watch a job that lasts longer than the edge's
# 60 s:

# %%
from stream_or_queue.web.api import WEB_SSE_RETRY_MS
from stream_or_queue.web.clients import sse_connections

LONG = "What does a batch API cost compared to live calls?"
live = follow_events(http, http.post("/jobs", json={"question": LONG}).json()["id"])
distinct = len({e.id for e in live.events}) == len(live.events)
print(
    f"{live.status}, reconnected after each cut; {len(live.events)} events, all distinct: {distinct}"
)
assert live.status == "finished" and live.connections >= 2 and distinct

runs_s = record(LONG).total_s
retry_s = WEB_SSE_RETRY_MS / 1000  # the service's `retry:` hint
planned = sse_connections(runs_s, edge_s=config.DEFAULT_EDGE_TIMEOUT_S, retry_s=retry_s)
print(
    f"by its schedule: {runs_s:.1f} s of work; "
    f"cut every {config.DEFAULT_EDGE_TIMEOUT_S:.0f} s, back {retry_s:g} s later: "
    f"{planned.connections} connections"
)

# %% [markdown]
# ## 5. Polling against SSE, on the jobs' schedules
#
# Eight questions, eight workers (no job waits in the queue), and three kinds of
# client: polling every second, polling with backoff (1 s doubling to 15 s), and
# SSE behind the edge's 60 s limit. What each costs follows from when each job
# ends, which its schedule gives exactly: the polls are `poll_moments`, the SSE
# connections `sse_connections` (cut at 60 s, back after the `retry:` hint).

# %%
import statistics

from stream_or_queue.research.schedule import schedules

QUESTIONS = [
    f"Question {n}: what should a long-running AI feature show its user?" for n in range(8)
]
ends = [plan.total_s for plan in schedules(QUESTIONS)]
print(f"the 8 jobs take {min(ends):.1f} to {max(ends):.1f} s (simulated)")
print("assumption: a status request is answered in milliseconds (held open: 0 s)")


def polling(first_s: float, factor: float, max_s: float) -> dict:
    asked = [poll_moments(end, first_s=first_s, factor=factor, max_s=max_s) for end in ends]
    late = [moments[-1] - end for moments, end in zip(asked, ends, strict=True)]
    return {
        "requests": sum(map(len, asked)),
        "open s": 0.0,
        "notice p50 s": statistics.median(late),
        "notice max s": max(late),
        "edge cuts": 0,
    }


follows = [
    sse_connections(end, edge_s=config.DEFAULT_EDGE_TIMEOUT_S, retry_s=retry_s) for end in ends
]
late = [f.noticed_at_s - end for f, end in zip(follows, ends, strict=True)]
results = {
    "poll every 1 s": polling(1.0, 1.0, 1.0),
    "poll, backoff": polling(1.0, 2.0, 15.0),
    "SSE": {
        "requests": sum(f.connections for f in follows),
        "open s": sum(f.open_s for f in follows),
        "notice p50 s": statistics.median(late),
        "notice max s": max(late),
        "edge cuts": sum(f.cuts for f in follows),
    },
}

columns = ["requests", "open s", "notice p50 s", "notice max s"]
print(f"{'8 jobs':15s}" + "".join(f"{c:>14s}" for c in columns))
for name, row in results.items():
    print(f"{name:15s}" + "".join(f"{row[c]:14.1f}" for c in columns))
print("open s: responses held open, summed; notice: end of job to client knowing (simulated s)")
sse, fast, backoff = results["SSE"], results["poll every 1 s"], results["poll, backoff"]
print(
    f"SSE: {sse['requests']} requests for {len(QUESTIONS)} jobs; "
    f"the edge cut {sse['edge cuts']} of the streams, and each cut one reconnected"
)
assert sse["requests"] == len(QUESTIONS) + sse["edge cuts"] < backoff["requests"] < fast["requests"]
assert sse["notice p50 s"] < backoff["notice p50 s"]
assert sse["open s"] > fast["open s"]

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(10, 3))
for ax, column, label in zip(
    axes,
    ("requests", "open s", "notice p50 s"),
    ("requests for 8 jobs", "response-seconds held open (sim)", "time to notice the end (sim s)"),
    strict=True,
):
    ax.bar(
        list(results),
        [row[column] for row in results.values()],
        color=["#8c8c8c", "#4c72b0", "#55a868"],
    )
    ax.set_title(label, fontsize=10)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# What the numbers say:
#
# - **Polling every second** notices the end within about a second, at the
#   price of dozens of requests per job - nearly all of them answered "still
#   running". Multiply by every open tab.
# - **Polling with backoff** sends a fraction of those requests, but a job that
#   ends just after a poll is noticed only at the next one, up to the cap later.
# - **SSE** sends about one request per job (plus one per edge cut) and notices
#   the end as soon as it is written, and it delivers every step on the way. The
#   cost is one response held open per watching client for the whole job (the
#   "open s" column): the server must handle many idle connections (async
#   servers do), and the edge will cut them, so the client must reattach.
#
# ## 6. Talking back: cancel a running job from the page
#
# The seed suggests "WebSocket / SSE with checkpoints" for agent loops where the
# client wants to see the thinking, and the chat pattern wants the user to be
# able to stop. Both directions are needed, but not on one socket: the steps
# flow down the SSE stream, and the one message that goes back - stop - is a
# plain request, `DELETE /jobs/{id}`. The service sets a cancel flag in Redis,
# the job checks it at its next step and stops, and the stream ends with a
# `canceled` event (the `DELETE` writes it, so the page knows at once). Cancel a
# question three events in, while its first search runs:

# %%
import time

from rq.job import Job

QUESTION = "What should a research agent show while it works?"

job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
seen = follow_events(http, job_id, stop_after=3)
answer = http.delete(f"/jobs/{job_id}")
rest = follow_events(http, job_id, last_event_id=seen.last_event_id)
job = Job.fetch(job_id, connection=web.service.redis)
deadline = time.monotonic() + 30
while job.get_status(refresh=True) == "started" and time.monotonic() < deadline:
    time.sleep(0.01)  # the worker stops the job at the agent's next step
steps = [json.loads(e.data)["step"] for e in seen.events]
print(
    f"the page saw {' -> '.join(steps)}, sent DELETE ({answer.status_code}), "
    f"and the stream ended {rest.status}"
)
assert answer.status_code == 200 and rest.status == "canceled"

# %% [markdown]
# What did the stop save? The agent checks the flag as it announces its next
# tool, so a stop during the first search lets the model call that chooses the
# second tool run, and nothing after it. Count that on the question's schedule
# (a test stops a real job the same way and checks that its spending stops):

# %%
plan = record(QUESTION)
tools_at = [i for i, step in enumerate(plan.steps) if step.kind == "tool"]
whole_calls = sum(step.kind == "model" for step in plan.steps)
cancelled_calls = sum(step.kind == "model" for step in plan.steps[: tools_at[1]])
print(f"the whole run: {whole_calls} model calls and {plan.tool_calls} tool calls")
print(
    f"stopped during the first search: {cancelled_calls} of {whole_calls} model calls made, "
    f"{whole_calls - cancelled_calls} never happened; "
    f"${plan.cost_usd - plan.cost_by(plan.steps[tools_at[1]].start_s):.4f} not spent"
)
assert cancelled_calls < whole_calls

# %% [markdown]
# The same stream can carry the model's *thinking*. With extended thinking the
# model writes its reasoning before the answer; the service's chat endpoint
# passes it on as `thinking` events (`GET /chat?question=...&thinking=1024`, a
# thinking budget in tokens), so a page can show the reasoning instead of a
# spinner while the answer is not there yet:

# %%
mark = len(env.simulator.ledger)
params: dict[str, str | int] = {
    "question": "Should a research agent run as a background job?",
    "thinking": 1024,
}
with http.stream("GET", "/chat", params=params) as response:
    streamed = [(e.event, json.loads(e.data)) for e in httpx2.EventSource(response)]
kinds = [kind for kind, _ in streamed]
call = next(r for r in list(env.simulator.ledger)[mark:] if r.endpoint == "POST /v1/messages")
rate = (call.planned_output_tokens - 1) / (call.scheduled_total_s - call.scheduled_ttft_s)
print(
    f"{kinds.count('thinking')} thinking events, then {kinds.count('token')} answer tokens, "
    f"then {kinds[-1]}"
)
print(
    f"{call.thinking_tokens:,} thinking tokens: about "
    f"{call.thinking_tokens / rate:.0f} s of the model's time (simulated) before the "
    "first word of the answer, shown as reasoning rather than a spinner"
)
print("the thinking begins:", "".join(d["text"] for k, d in streamed if k == "thinking")[:90])
assert set(kinds[: kinds.index("token")]) == {"thinking"} and call.thinking_tokens > 0

# %% [markdown]
# One stream down, one small request up: the user sees every step (and the
# thinking) as it happens
# and can stop the work, and what the agent did not do is not paid for (how
# many calls that saves depends on when the stop comes: the count above is for a
# stop during the first search). A
# *steer* message (answer the agent's question, add a source) fits the same
# shape: a `POST` that the job reads at its next step, as it reads the cancel
# flag. That is why this course drops the WebSocket: it would carry the same two
# kinds of message over a connection that edges and proxies treat specially, and
# lose what SSE gives for free (`Last-Event-ID`, plain HTTP through every edge).
#
# | need | polling | SSE + a request back | WebSocket |
# |---|---|---|---|
# | job status now and then, simplest client | ✓ | ✓ | overkill |
# | live progress steps, resume after a drop | misses steps | ✓ built in (`Last-Event-ID`) | you build it |
# | the user stops or steers the running agent | a request back | ✓ measured above | ✓ |
# | many messages both ways per second (collaborative editing, voice) | - | - | ✓ |
# | passes proxies and edges unchanged | ✓ | ✓ (plain HTTP; cut and resumed) | needs upgrade support |
#
# A WebSocket earns its moving parts when messages flow both ways many times a
# second; a research job that reports steps, takes a stop, and ends with a
# permalink does not need one.

# %% [markdown]
# The service stays up while this notebook runs (it stops with the kernel). Open
# its page in a new browser tab with the link below: on your own machine it is the
# server's address; in Binder or JupyterHub it goes through JupyterLab's proxy. Ask
# a question there: a job a person starts from the page plays on the human clock,
# so its progress moves at a real agent's pace, step by step.

# %% tags=["nbval-ignore-output", "why:ids"]
from stream_or_queue.web.links import browser_link

http.close()
browser_link(web.url, "/", "the course's page, live while this notebook runs")

# %% [markdown]
# ## Summary
#
# - Start-then-poll: `POST /jobs` answers 202 with a `Location` and an
#   unguessable id in milliseconds; `GET /jobs/{id}` reports status, progress and
#   result. No request waits for the work, so no edge cuts it.
# - A polling client should back off, capped; it trades requests for delay in
#   noticing the end, and sees only snapshots of progress.
# - SSE streams structured progress events with ids; a client that drops
#   reattaches with `Last-Event-ID` and misses nothing, even when the edge cuts
#   the stream.
# - On the jobs' schedules: SSE needs a fraction of polling's requests and
#   notices the end sooner, but holds one response open per watcher.
# - Talking back needs no WebSocket: a `DELETE` (or a `POST` to steer) next to
#   the SSE stream stopped the running agent, measured in model calls it never
#   made. WebSockets are for many messages both ways per second.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("06_start_then_poll")

# %% [markdown]
# ## Lab
#
# [Lab 06](../labs/06_start_then_poll.ipynb): write a polling client with
# backoff, and an event reader that reattaches with the last event id after each
# cut. ([solution](../solutions/06_start_then_poll.ipynb))
#
# The page that puts it together - ask, watch live progress, land on the
# permalink - is the link printed above, live while this notebook runs; on its
# own it is served by `python -m stream_or_queue.web --port 8000`.

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [05x · Background jobs: going further (optional)](05x_background_jobs_going_further.ipynb) | [Course index](../README.md#lessons) | [07 · Batch at scale](07_batch_at_scale.ipynb) →
#
# **Lab:** [Lab 06 · Start, then poll](../labs/06_start_then_poll.ipynb) · [solution](../solutions/06_start_then_poll.ipynb)
