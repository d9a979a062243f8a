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
# - Measure polling against SSE: requests, bytes, responses held open, and how
#   soon each client notices that the job is done.
# - Cancel a running job from the page with one request back, and measure what
#   the agent did not do; decide when a WebSocket is worth its extra moving parts.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0, time_scale=0.02)

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

# %% tags=["nbval-ignore-output", "why:timing"]
outcome = poll_job(http, job["id"], first_s=1.0, factor=2.0, max_s=15.0)
print(
    f"{outcome.status} after {outcome.polls} polls, "
    f"{outcome.waited_s:.0f} simulated s after the first one"
)
assert outcome.status == "finished" and 4 <= outcome.polls <= 15

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
# `follow_events` does the same. Watch a job that first waits in the queue behind
# another one - together they last well over the edge's 60 s:

# %% tags=["nbval-ignore-output", "why:timing"]
ahead = http.post("/jobs", json={"question": "How do edge timeouts differ across platforms?"})
behind = http.post("/jobs", json={"question": "What does a batch API cost compared to live calls?"})
live = follow_events(http, behind.json()["id"])
distinct = len({e.id for e in live.events}) == len(live.events)
print(
    f"{live.status} over {live.connections} connections; "
    f"events: {len(live.events)}, all distinct: {distinct}; "
    f"streams cut by the edge so far: {web.service.edge.cut_mid_stream}"
)
assert live.status == "finished" and live.connections >= 2 and distinct

# %% [markdown]
# ## 5. Measure: polling against SSE
#
# Eight questions, eight workers, and three kinds of client, one round each:
# polling every second, polling with backoff (1 s doubling to 15 s), and SSE. The
# service's `TrafficMeter` (ASGI middleware) counts the requests, the bytes sent
# and the responses open at once; each job's terminal event carries the time it
# was written, so each client's delay in noticing the end can be measured.

# %%
import statistics
import threading

from stream_or_queue import clock
from stream_or_queue.jobs import ThreadWorker
from stream_or_queue.web import events

extra_workers = [ThreadWorker([config.WEB_QUEUE]).start() for _ in range(7)]
QUESTIONS = [
    f"Question {n}: what should a long-running AI feature show its user?" for n in range(8)
]


def poll_every_second(client, job_id):
    return poll_job(client, job_id, first_s=1.0, factor=1.0, max_s=1.0).noticed_at


def poll_with_backoff(client, job_id):
    return poll_job(client, job_id, first_s=1.0, factor=2.0, max_s=15.0).noticed_at


def listen(client, job_id):
    return follow_events(client, job_id).noticed_at


def measure(follow) -> dict:
    web.service.traffic.reset()
    ids = [http.post("/jobs", json={"question": q}).json()["id"] for q in QUESTIONS]
    noticed = {}

    def run(job_id):
        with httpx2.Client(base_url=web.url, timeout=60) as client:
            noticed[job_id] = follow(client, job_id)

    threads = [threading.Thread(target=run, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    ended = {i: events.read_events(web.service.redis, i)[-1].data["ts"] for i in ids}
    delays = [clock.to_sim(noticed[i] - ended[i]) for i in ids]
    traffic = web.service.traffic.snapshot()
    kind = "events" if follow is listen else "status"
    return {
        "requests": traffic[kind].requests,
        "kB sent": traffic[kind].bytes_out / 1000,
        "open s": traffic[kind].open_seconds,
        "notice p50 s": statistics.median(delays),
        "notice max s": max(delays),
    }


results = {
    name: measure(follow)
    for name, follow in (
        ("poll every 1 s", poll_every_second),
        ("poll, backoff", poll_with_backoff),
        ("SSE", listen),
    )
}
for worker in extra_workers:
    worker.stop()

# %% tags=["nbval-ignore-output", "why:timing"]
columns = ["requests", "kB sent", "open s", "notice p50 s", "notice max s"]
print(f"{'8 jobs':15s}" + "".join(f"{c:>14s}" for c in columns))
for name, row in results.items():
    print(f"{name:15s}" + "".join(f"{row[c]:14.1f}" for c in columns))
print("open s: responses held open, summed; notice: end of job to client knowing (simulated s)")
sse, fast, backoff = results["SSE"], results["poll every 1 s"], results["poll, backoff"]
assert sse["requests"] <= 2 * len(QUESTIONS) < backoff["requests"] < fast["requests"]
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
# What the numbers say (your run's figures are in the table):
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
# `canceled` event. Measure it: run one question to the end, then the same
# question again, cancelled three events in, and count what the agent did.

# %%
import time

from rq.job import Job

QUESTION = "What should a research agent show while it works?"


def model_calls(since: int) -> int:
    """Requests the agent made to the model since ledger entry `since`."""
    return sum(r.endpoint == "POST /v1/messages" for r in list(env.simulator.ledger)[since:])


mark = len(env.simulator.ledger)
whole = follow_events(http, http.post("/jobs", json={"question": QUESTION}).json()["id"])
whole_calls = model_calls(mark)

mark = len(env.simulator.ledger)
job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
seen = follow_events(http, job_id, stop_after=3)
cancel_at = time.perf_counter()
answer = http.delete(f"/jobs/{job_id}")
arrived: list[float] = []
rest = follow_events(
    http,
    job_id,
    last_event_id=seen.last_event_id,
    on_event=lambda event: arrived.append(time.perf_counter()),
)
job = Job.fetch(job_id, connection=web.service.redis)
deadline = time.monotonic() + 30
while job.get_status(refresh=True) == "started" and time.monotonic() < deadline:
    time.sleep(0.01)  # the worker stops at the agent's next step
cancelled_calls = model_calls(mark)
steps = [json.loads(e.data)["step"] for e in seen.events]
print(f"the whole run: {len(whole.events)} events, {whole_calls} model calls, {whole.status}")
print(
    f"the cancelled run: the page saw {' -> '.join(steps)}, sent DELETE "
    f"({answer.status_code}), and the stream ended {rest.status}"
)
assert answer.status_code == 200 and rest.status == "canceled"
assert cancelled_calls < whole_calls

# %% tags=["nbval-ignore-output", "why:timing"]
print(
    f"the cancelled run made {cancelled_calls} of {whole_calls} model calls: "
    f"{whole_calls - cancelled_calls} never happened"
)
print(
    f"from the DELETE to the `canceled` event on the stream: "
    f"{clock.to_sim(arrived[-1] - cancel_at):.2f} s (simulated)"
)

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
record = next(r for r in list(env.simulator.ledger)[mark:] if r.endpoint == "POST /v1/messages")
rate = (record.planned_output_tokens - 1) / (record.scheduled_total_s - record.scheduled_ttft_s)
print(
    f"{kinds.count('thinking')} thinking events, then {kinds.count('token')} answer tokens, "
    f"then {kinds[-1]}"
)
print(
    f"{record.thinking_tokens:,} thinking tokens: about "
    f"{record.thinking_tokens / rate:.0f} s of the model's time (simulated) before the "
    "first word of the answer, shown as reasoning rather than a spinner"
)
print("the thinking begins:", "".join(d["text"] for k, d in streamed if k == "thinking")[:90])
assert set(kinds[: kinds.index("token")]) == {"thinking"} and record.thinking_tokens > 0

# %% [markdown]
# One stream down, one small request up: the user sees every step (and the
# thinking) as it happens
# and can stop the work, and what the agent did not do is not paid for (how
# many calls that saves depends on when the stop comes: the count above is this
# run's). A
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
# - Measured: SSE needs a fraction of polling's requests and notices the end
#   sooner, but holds one response open per watcher.
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
