# %% [markdown]
# # 04 · Why long sync requests fail
#
# A research agent that searches, reads and writes takes about a minute. Put it
# behind a chat box that holds one HTTP request open until the answer is written,
# and it works on a laptop - then fails in production, because between the
# browser and the server sits an edge (a load balancer, a CDN, a function
# platform) that ends any request it thinks has run too long. This notebook
# measures how often that happens, what each failure costs, and what users do
# while they wait.

# %% [markdown]
# ## What you will learn
#
# - Measure how long a 5-8 tool-call agent takes, and see the distribution
#   against the edge timeouts real platforms use.
# - Send the same questions through a simulated edge with a 60 s limit and
#   measure the failure rate.
# - Read the simulator's ledger to see what a cut request already paid for, and
#   why retrying does not help.
# - Put a stated model of user patience next to the durations: some users close
#   the tab before the edge even gets the chance.
# - Measure the same questions as background jobs behind the same edge.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0, time_scale=0.02)

# %% [markdown]
# The time scale is 0.02 real seconds per simulated second: a one-minute agent
# runs in about 1.2 s. Every duration below is in **simulated seconds**, measured
# on the clock while the agent really runs (so the figures move a little from one
# run to the next).
#
# ## 1. How long does the agent take?
#
# `stream_or_queue.research.run_research` is the course's research assistant: it
# calls the model with three tools (search, read a document, take notes), runs
# each tool it asks for, and after 5 to 8 tool calls writes four paragraphs that
# cite their sources. Each search or document read takes simulated seconds, as a
# real web search or page fetch does. Run it on 24 questions at once (a thread each).

# %%
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from stream_or_queue import config
from stream_or_queue.research import questions, run_research

QUESTIONS = questions(24)
with ThreadPoolExecutor(max_workers=len(QUESTIONS)) as pool:
    runs = list(pool.map(run_research, QUESTIONS))

tool_calls = Counter(len(run.tool_calls) for run in runs)
for calls, count in sorted(tool_calls.items()):
    print(f"{calls} tool calls: {count:2d} questions")

# %% [markdown]
# The number of tool calls is the model's plan for each question, so it is the
# same on every run. The durations come from the clock:

# %% tags=["nbval-ignore-output", "why:timing"]
import statistics

durations = [run.duration_s for run in runs]
over = sum(d > config.DEFAULT_EDGE_TIMEOUT_S for d in durations) / len(durations)
print(
    f"median {statistics.median(durations):.0f} s, from {min(durations):.0f} s "
    f"to {max(durations):.0f} s (simulated)"
)
print(f"longer than {config.DEFAULT_EDGE_TIMEOUT_S:.0f} s: {over:.0%} of the questions")
assert min(tool_calls) >= 5 and max(tool_calls) <= 8
assert 0.2 <= over <= 0.85, over

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.hist(durations, bins=range(30, 135, 5), color="#4c72b0", edgecolor="white")
for limit in config.EDGE_TIMEOUTS_S.values():
    if limit <= 130:
        ax.axvline(limit, color="#c44e52", linestyle="--", linewidth=1)
        ax.text(limit + 1, ax.get_ylim()[1] * 0.92, f"{limit:.0f} s", color="#c44e52")
ax.set_xlabel("agent duration (simulated s)")
ax.set_ylabel("questions")
ax.set_title("24 research questions against the edge timeouts")
plt.show()

# %% [markdown]
# The dashed lines are where real edges cut a request (vendor documentation,
# 2025). The 60 s line runs through the middle of the distribution. Here is the
# share of questions each edge would cut:

# %% tags=["nbval-ignore-output", "why:timing"]
for name, limit in config.EDGE_TIMEOUTS_S.items():
    cut = sum(d > limit for d in durations) / len(durations)
    print(f"{name:38s} {limit:5.0f} s   cuts {cut:4.0%}")

# %% [markdown]
# ## 2. Through the edge: the measured failure rate
#
# Now the real thing. `stream_or_queue.web` serves the same agent over HTTP,
# with `EdgeTimeout` in front: ASGI middleware that behaves like a load
# balancer and answers `504 Gateway Timeout` for any request still running after
# 60 simulated seconds. `POST /research/sync` is the chat-box design: the whole
# agent runs inside the request, and the answer comes back in the response.

# %%
import httpx2

from stream_or_queue.web import create_app, serve_in_thread

web = serve_in_thread(create_app(edge_timeout_s=config.DEFAULT_EDGE_TIMEOUT_S))


def ask_and_wait(question: str) -> int:
    with httpx2.Client(base_url=web.url, timeout=120) as http:
        return http.post("/research/sync", json={"question": question}).status_code


with ThreadPoolExecutor(max_workers=len(QUESTIONS)) as pool:
    statuses = list(pool.map(ask_and_wait, QUESTIONS))

# %% tags=["nbval-ignore-output", "why:timing"]
print(sorted(Counter(statuses).items()))
failure_rate = statuses.count(504) / len(statuses)
print(f"cut by the edge: {statuses.count(504)} of {len(statuses)} requests ({failure_rate:.0%})")
print(f"predicted from the durations of step 1: {over:.0%}")
assert set(statuses) <= {200, 504}
assert 0.2 <= failure_rate <= 0.9, failure_rate

# %% [markdown]
# About half of the requests never get their answer, as production teams report
# for agents behind a 60 s limit. The edge does not care that the work was
# nearly done: at 60 s it ends the request.
#
# ## 3. What a failure mid-stream loses
#
# Streaming does not save the request. `GET /research/stream` runs the same
# agent and streams its progress and text as server-sent events - the connection
# stays busy the whole time, and the edge still cuts it at 60 s, mid-stream.
# Take the slowest question of step 1, clear the simulator's ledger, and look at
# what the user received and what was billed.

# %% tags=["nbval-ignore-output", "why:timing"]
import time

from stream_or_queue import token_cost

sim = env.simulator


def settle() -> None:
    """Wait (bounded) until no model call is in flight."""
    for _ in range(500):
        if sim.in_flight == 0:
            return
        time.sleep(0.01)


def stream_through_edge(question: str) -> dict:
    """Read the streamed answer until the end, or until the edge cuts it."""
    sim.reset()
    received: Counter[str] = Counter()
    answered = False
    try:
        with (
            httpx2.Client(base_url=web.url, timeout=120) as http,
            http.stream("GET", "/research/stream", params={"question": question}) as response,
        ):
            for event in httpx2.EventSource(response):
                received[event.event] += 1
                answered = answered or event.event == "done"
    except httpx2.RemoteProtocolError:
        received["cut"] += 1
    settle()
    records = list(sim.ledger)
    input_tokens = sum(r.input_tokens for r in records)
    output_tokens = sum(r.generated_tokens for r in records)
    return {
        "events": dict(received),
        "answered": answered,
        "model calls": len(records),
        "input tokens": input_tokens,
        "output tokens": output_tokens,
        "billed $": round(token_cost(input_tokens, output_tokens, config.LARGE_MODEL), 4),
    }


slowest = QUESTIONS[max(range(len(runs)), key=lambda i: durations[i])]
first_try = stream_through_edge(slowest)
first_try

# %% tags=["nbval-ignore-output", "why:timing"]
second_try = stream_through_edge(slowest)
for name, attempt in (("first try", first_try), ("retry", second_try)):
    print(
        f"{name:9s}: answer delivered: {attempt['answered']}, "
        f"{attempt['model calls']} model calls billed, ${attempt['billed $']:.4f}"
    )
wasted = first_try["billed $"] + second_try["billed $"]
print(f"paid for two attempts, ${wasted:.4f}, and the user has no answer")
assert not first_try["answered"] and first_try["events"].get("cut") == 1
assert first_try["model calls"] >= 1 and first_try["billed $"] > 0

# %% [markdown]
# Every model call the agent made before the cut was billed: the input tokens of
# each turn (the whole conversation so far, tool results included) and the output
# tokens generated. The user got a few progress events and some of the model's
# running commentary, and no answer. A retry starts from scratch, takes as long
# again, and is cut at the same point: the question is simply longer than the
# edge allows.
#
# ## 4. A user closing the tab
#
# The edge is not the only one with a time limit. Nobody can measure real users
# from a notebook, so the course states a **model** (`stream_or_queue.research.users`):
# each user keeps the tab open for a patience drawn from a seeded log-normal
# distribution, median `config.USER_PATIENCE_MEDIAN_S` simulated seconds. Pair
# each question of step 1 with one modelled user:

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.research.users import users

people = users(len(durations), seed=0)
edge = config.DEFAULT_EDGE_TIMEOUT_S
left_first = sum(
    p.patience_s < d and p.patience_s < edge for p, d in zip(people, durations, strict=True)
)
cut_first = sum(d > edge and p.patience_s >= edge for p, d in zip(people, durations, strict=True))
got_answer = sum(d <= edge and p.patience_s >= d for p, d in zip(people, durations, strict=True))
print(
    f"patience model: median {config.USER_PATIENCE_MEDIAN_S:.0f} s, "
    f"sigma {config.USER_PATIENCE_SPREAD} (an assumption, not a measurement)"
)
print(f"closed the tab first:  {left_first:2d} of {len(people)}")
print(f"cut by the edge first: {cut_first:2d} of {len(people)}")
print(f"saw their answer:      {got_answer:2d} of {len(people)}")
assert left_first + cut_first + got_answer == len(people)

# %% [markdown]
# When a user closes the tab, the browser drops the connection. The service
# notices (the stream's client is gone), cancels the agent at its next step and
# stops paying - but what it had spent is gone, like the answer. Here one user
# with 25 s of patience gives up on a streamed answer:

# %% tags=["nbval-ignore-output", "why:timing"]
sim.reset()
patience_s = 25.0
with (
    httpx2.Client(base_url=web.url, timeout=120) as http,
    http.stream("GET", "/research/stream", params={"question": QUESTIONS[0]}) as response,
):
    deadline = time.perf_counter() + patience_s * config.time_scale()
    for _event in httpx2.EventSource(response):
        if time.perf_counter() > deadline:
            break  # the tab is closed: leaving the block drops the connection
time.sleep(0.3)  # real time for the server to notice the hang-up (bounded, generous under load)
settle()
calls_at_close = len(sim.ledger)
time.sleep(20 * config.time_scale())
spent = token_cost(
    sum(r.input_tokens for r in sim.ledger),
    sum(r.generated_tokens for r in sim.ledger),
    config.LARGE_MODEL,
)
print(
    f"model calls before the tab closed: {calls_at_close}, after: "
    f"{len(sim.ledger) - calls_at_close}"
)
print(f"spent on an answer nobody will read: ${spent:.4f}")
assert len(sim.ledger) == calls_at_close  # the agent stopped with the request

# %% [markdown]
# ## 5. The same questions as background jobs
#
# The fix is in the next notebooks: don't hold the request open. `POST /jobs`
# puts the question on a queue (RQ) and answers `202 Accepted` with a job id at
# once; workers run the agent; the browser asks for the status, or listens to
# progress events, in short requests the edge never cuts. Run half of the
# questions that way, through the same edge, with six workers:

# %%
from stream_or_queue.jobs import ThreadWorker
from stream_or_queue.web.clients import poll_job

extra_workers = [ThreadWorker([config.WEB_QUEUE]).start() for _ in range(5)]
cuts_before = web.service.edge.cut_before_answer + web.service.edge.cut_mid_stream
with httpx2.Client(base_url=web.url, timeout=30) as http:
    accepted = [http.post("/jobs", json={"question": q}) for q in QUESTIONS[:12]]
    outcomes = [poll_job(http, r.json()["id"], first_s=5.0) for r in accepted]
print(sorted(Counter(r.status_code for r in accepted).items()))
print(sorted(Counter(o.status for o in outcomes).items()))

# %% tags=["nbval-ignore-output", "why:timing"]
slow = sum(o.view["result"]["duration_s"] > edge for o in outcomes)
cuts = web.service.edge.cut_before_answer + web.service.edge.cut_mid_stream - cuts_before
print(
    f"jobs longer than the edge's {edge:.0f} s: {slow} of {len(outcomes)}; "
    f"requests cut by the edge meanwhile: {cuts}"
)
assert all(o.status == "finished" for o in outcomes) and cuts == 0

# %%
for worker in extra_workers:
    worker.stop()
web.stop()

# %% [markdown]
# Every job finished, including those that took longer than the edge allows:
# no request lasted more than a few milliseconds.
#
# ## Summary
#
# - A 5-8 tool-call agent takes about a minute, spread widely: the 60 s limit of
#   common edges runs right through its distribution.
# - Held inside one request, about half of the questions are cut (504) - a
#   failure rate you can predict from the durations alone.
# - Streaming does not help: the stream is cut too, after the model calls were
#   billed, and a retry pays again for the same failure.
# - Users have limits as well: with a stated patience model, part of them leave
#   before either the answer or the edge arrives.
# - As background jobs, the same questions all finish behind the same edge,
#   because no request waits for the work.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("04_why_long_sync_requests_fail")

# %% [markdown]
# ## Lab
#
# [Lab 04](../labs/04_why_long_sync_requests_fail.ipynb): compute the edge's
# failure rate, then build the fix yourself - a `POST /jobs` that answers 202
# with a job id and a `GET /jobs/{id}` that reports the job's status and result.
# ([solution](../solutions/04_why_long_sync_requests_fail.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [03 · Cancellation and conversation](03_cancellation_and_conversation.ipynb) | [Course index](../README.md#lessons) | [05 · Background jobs](05_background_jobs.ipynb) →
#
# **Lab:** [Lab 04 · Why long sync requests fail](../labs/04_why_long_sync_requests_fail.ipynb) · [solution](../solutions/04_why_long_sync_requests_fail.ipynb)
