# %% [markdown]
# # 04 · Why long sync requests fail
#
# A research agent that searches, reads and writes takes about a minute. Put it
# behind a chat box that holds one HTTP request open until the answer is written,
# and it works on a laptop - then fails in production, because between the
# browser and the server sits an edge (a load balancer, a CDN, a function
# platform) that ends requests it thinks have run too long. Edges follow one of
# two rules, and streaming helps against only one of them. This notebook
# measures both, what each failure costs, and what deploys and users do to a
# request that is still open.

# %% [markdown]
# ## What you will learn
#
# - Measure how long a 5-8 tool-call agent takes, and see the distribution
#   against the limits real edges use: total-duration limits and idle timeouts.
# - Send the same question through both kinds of edge, silent and streamed, and
#   see which is cut; count the cuts for every question.
# - Read what a cut request already paid for, and why retrying does not help.
# - See a deploy and a closed tab end a stream that no edge would cut.
# - Run the same question as a background job behind the same edge.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0, time_scale=0.02)

# %% [markdown]
# The time scale, 0.02 real seconds per simulated second, is for the real
# requests of steps 2 and 6: a one-minute agent answers in about 1.2 s. Every
# duration below is in **simulated seconds**.
#
# ## 1. How long does the agent take, and when does it send bytes?
#
# `stream_or_queue.research.run_research` is the course's research assistant: it
# calls the model with three tools (search, read a document, take notes), runs
# each tool it asks for, and after 5 to 8 tool calls writes four paragraphs that
# cite their sources. Each search or document read takes simulated seconds, as a
# real web search or page fetch does.
#
# How long is fixed by the question: the simulator decides each model call's
# timing from the request (a seeded time to first token and token rate) and
# each tool's duration from its input. So one run of a question at time scale 0
# records its exact **schedule** (`research.schedule.record`: each step's start,
# duration and tokens, read from the simulator's records) - the run a real
# request follows, and the same on every machine. Record 24 questions:

# %%
from collections import Counter

from stream_or_queue import config
from stream_or_queue.research import questions
from stream_or_queue.research.schedule import schedules

QUESTIONS = questions(24)
runs = schedules(QUESTIONS)
tool_calls = Counter(run.tool_calls for run in runs)
for calls, count in sorted(tool_calls.items()):
    print(f"{calls} tool calls: {count:2d} questions")

# %% [markdown]
# A streamed answer sends bytes as each step starts (a progress event) and as
# the answer's text is written; a silent one only at the end. From the schedules:

# %%
import statistics

durations = [run.total_s for run in runs]
LIMIT_S = config.DEFAULT_EDGE_TIMEOUT_S
over = sum(d > LIMIT_S for d in durations)
silences = [run.longest_silence_s for run in runs]
print(
    f"median {statistics.median(durations):.1f} s, from {min(durations):.1f} s "
    f"to {max(durations):.1f} s (simulated)"
)
print(f"longer than {LIMIT_S:.0f} s: {over} of {len(durations)} questions")
print(f"longest silence of a streamed answer, any question: {max(silences):.1f} s")
assert min(tool_calls) >= 5 and max(tool_calls) <= 8
assert 0.2 <= over / len(durations) <= 0.85, over

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.hist(durations, bins=range(30, 135, 5), color="#4c72b0", edgecolor="white")
for limit in config.EDGE_LIMITS:
    if limit.seconds <= 130:
        style = "--" if limit.kind == "duration" else ":"
        ax.axvline(limit.seconds, color="#c44e52", linestyle=style, linewidth=1)
        ax.text(
            limit.seconds + 1,
            ax.get_ylim()[1] * 0.92,
            f"{limit.seconds:.0f} s {limit.kind}",
            color="#c44e52",
        )
ax.set_xlabel("agent duration (simulated s)")
ax.set_ylabel("questions")
ax.set_title("24 research questions against real edges' limits")
plt.show()

# %% [markdown]
# Real edges follow one of two rules (`config.EDGE_LIMITS`, each figure with its
# source and the month it was checked):
#
# - a **duration limit** ends a request after a total time, however busy it is:
#   function platforms (AWS Lambda, Vercel) and API gateways;
# - an **idle timeout** ends a request after a time with **no bytes** on the
#   connection: load balancers (AWS ALB) and CDN proxies (Cloudflare's read
#   timeout is the longest wait between two reads from the server).
#
# `stream_or_queue.edge.cut_at` applies either rule to a request's timeline: a
# *silent* request (`POST` and wait for the JSON answer) sends nothing until the
# end; a *streamed* one sends at the moments of its schedule (`sent_at()`).
#
# **Predict first.** Before you run the table, pick an answer; the cell after it
# puts it beside what was computed (the quick check at the end asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("04_why_long_sync_requests_fail", only=["stream-behind-idle-timeout"])

# %%
from stream_or_queue.edge import cut_at

print(f"{'edge':26s} {'rule':8s} {'limit':>6s}   silent cut   streamed cut")
for limit in config.EDGE_LIMITS:
    silent_n = sum(cut_at(limit, run.total_s) is not None for run in runs)
    streamed_n = sum(cut_at(limit, run.total_s, run.sent_at()) is not None for run in runs)
    print(
        f"{limit.name:26s} {limit.kind:8s} {limit.seconds:5.0f} s   "
        f"{silent_n:3d} of {len(runs)}    {streamed_n:3d} of {len(runs)}"
    )
    if limit.kind == "idle" and limit.seconds > max(silences):
        assert streamed_n == 0  # every silence of a stream is shorter than the timeout
    if limit.kind == "duration":
        assert streamed_n == silent_n  # a duration limit ignores the bytes
print(f"(vendor figures as documented in {config.EDGE_LIMITS[0].documented})")

# %%
alb = next(limit for limit in config.EDGE_LIMITS if limit.kind == "idle")
answered = sum(cut_at(alb, run.total_s, run.sent_at()) is None for run in runs)
Quiz.compare(
    "04_why_long_sync_requests_fail",
    "stream-behind-idle-timeout",
    f"{answered} of {len(runs)} streams answered behind the {alb.seconds:.0f} s idle timeout",
)

# %% [markdown]
# A silent request is cut by either rule: it sends no byte until its answer, so
# for it an idle timeout is a duration limit. A stream is spared by the idle
# timeouts and cut by the duration limits all the same.
#
# ## 2. The real thing: one question through both kinds of edge
#
# `stream_or_queue.web` serves the same agent over HTTP, behind `Edge`: ASGI
# middleware that applies either rule on simulated seconds, answers `504 Gateway
# Timeout` to a request that has not started its answer, and drops the
# connection of one that has. `POST /research/sync` is the chat-box design: the
# whole agent runs inside the request, and the answer comes back in the response.
# `GET /research/stream` runs the same agent and streams its progress and text as
# server-sent events. Take a question well over 60 s whose stream is never
# silent for long (so that no outcome is close to a limit), send it both ways
# through a 60 s duration limit and through a 60 s idle timeout, all four at
# once, and check each outcome against `cut_at` on its schedule:

# %%
from concurrent.futures import ThreadPoolExecutor

import httpx2

from stream_or_queue.web import create_app, serve_in_thread

services = {  # the same service behind each kind of edge
    "duration": serve_in_thread(create_app(edge_timeout_s=LIMIT_S)),
    "idle": serve_in_thread(create_app(edge_timeout_s=None, edge_idle_s=LIMIT_S), worker=False),
}
example = min((r for r in runs if r.total_s > LIMIT_S + 10), key=lambda r: r.longest_silence_s)


def silent(url: str) -> tuple[bool, str]:
    """POST and wait for the JSON answer: (answer delivered?, what the client saw)."""
    with httpx2.Client(base_url=url, timeout=120) as http:
        response = http.post("/research/sync", json={"question": example.question})
    if response.status_code == 504:
        return False, f"504 Gateway Timeout (x-edge-rule: {response.headers['x-edge-rule']})"
    return response.status_code == 200, f"{response.status_code}, the answer"


def streamed(url: str) -> tuple[bool, str]:
    """Read a streamed answer until its end or until the edge drops it."""
    answered = False
    params = {"question": example.question}
    try:
        with (
            httpx2.Client(base_url=url, timeout=120) as http,
            http.stream("GET", "/research/stream", params=params) as response,
        ):
            for event in httpx2.EventSource(response):
                answered = answered or event.event == "done"
    except httpx2.RemoteProtocolError:
        return False, "the connection dropped mid-answer"  # what the edge does to a stream
    return answered, "the whole answer" if answered else "the stream ended without its answer"


print(
    f"the question: {example.total_s:.1f} s, "
    f"longest silence when streamed {example.longest_silence_s:.1f} s"
)
rules = (
    config.EdgeLimit(f"a {LIMIT_S:.0f} s duration rule", "duration", LIMIT_S, "", ""),
    config.EdgeLimit(f"a {LIMIT_S:.0f} s idle rule", "idle", LIMIT_S, "", ""),
)
tries = [(rule, way) for rule in rules for way in (silent, streamed)]
with ThreadPoolExecutor(max_workers=len(tries)) as pool:
    outcomes = list(pool.map(lambda t: t[1](services[t[0].kind].url), tries))
for (rule, way), (delivered, seen) in zip(tries, outcomes, strict=True):
    print(f"{rule.name}, {way.__name__:8s}: {seen}")
    sent = example.sent_at() if way is streamed else ()
    assert delivered == (cut_at(rule, example.total_s, sent) is None)  # as computed
services["idle"].stop()
web = services["duration"]

# %% [markdown]
# The edge does not care that the work was nearly done: at 60 s it ends the
# request. So "stream it" is the right fix for a load balancer's idle timeout,
# and no fix at all for a function platform's duration limit. Behind a duration
# limit, what does a cut stream cost? Every model call the agent started before
# the cut is billed: the input tokens of each turn (the whole conversation so
# far, tool results included) and the output tokens generated until the cut
# (`Schedule.cost_by`). A retry is the same request, so it follows the same
# schedule:

# %%
cut_s = LIMIT_S
billed_calls = sum(step.kind == "model" and step.start_s < cut_s for step in example.steps)
billed = example.cost_by(cut_s)
print(
    f"each attempt at this question: cut at {cut_s:.0f} s of {example.total_s:.1f} s, "
    f"{billed_calls} model calls billed, ${billed:.4f}"
)
print(f"paid for two attempts, ${2 * billed:.4f}, and the user has no answer")
assert billed_calls >= 1 and billed > 0

# %% [markdown]
# A retry starts from scratch and is cut again: the question is simply longer
# than the edge allows.
#
# ## 3. A deploy ends the stream no edge would cut
#
# A new release replaces the server process. The platform first stops sending
# it new requests and lets it finish the ones it has, for a drain period, then
# kills it. Behind the idle timeout only (which spares every stream), deploy
# 30 s into each answer: a stream still running when the drain ends dies with
# the process, and the work it had done is lost with it
# (`research.compare.deploy_chat`, the same arithmetic over the schedules):

# %%
from stream_or_queue.research.compare import deploy_chat

deploy_at_s = 30.0
killed_at_s = deploy_at_s + config.DEPLOY_DRAIN_S
print(
    f"assumption: the drain lasts {config.DEPLOY_DRAIN_S:.0f} s "
    "(Kubernetes' default termination grace period, config.DEPLOY_DRAIN_S)"
)
deploy = deploy_chat(QUESTIONS, at_s=killed_at_s)
print(
    f"the question of step 2: deploy {deploy_at_s:.0f} s into its {example.total_s:.1f} s answer; "
    f"{example.tool_calls_by(killed_at_s)} of its {example.tool_calls} tool calls done, "
    "then the process is gone"
)
print(
    f"all {deploy.questions} questions: {deploy.in_flight} still running at "
    f"{killed_at_s:.0f} s lost their answer, with {deploy.tool_calls_lost} tool calls done "
    f"and ${deploy.cost_lost_usd:.4f} paid"
)
assert deploy.in_flight == sum(d > killed_at_s for d in durations) > 0

# %% [markdown]
# The drain saves a stream that ends within it; an agent's minute-long answer
# does not. The work is lost with the process, whichever edge is in front.
#
# ## 4. A user closing the tab
#
# The edge is not the only one with a time limit. Nobody can measure real users
# from a notebook, so the course states a **model** (`stream_or_queue.research.users`):
# each user keeps the tab open for a patience drawn from a seeded log-normal
# distribution. Pair each question of step 1 with one modelled user, behind the
# 60 s duration limit:

# %%
from stream_or_queue.research.users import users

people = users(len(durations), seed=0)
pairs = list(zip(people, durations, strict=True))
left_first = sum(p.patience_s < d and p.patience_s < LIMIT_S for p, d in pairs)
cut_first = sum(d > LIMIT_S and p.patience_s >= LIMIT_S for p, d in pairs)
got_answer = sum(d <= LIMIT_S and p.patience_s >= d for p, d in pairs)
print(
    f"assumption: patience is log-normal, median {config.USER_PATIENCE_MEDIAN_S:.0f} s, "
    f"sigma {config.USER_PATIENCE_SPREAD} (the course's stated model, "
    "config.USER_PATIENCE_MEDIAN_S; not a measurement)"
)
print(f"closed the tab first:  {left_first:2d} of {len(people)}")
print(f"cut by the edge first: {cut_first:2d} of {len(people)}")
print(f"saw their answer:      {got_answer:2d} of {len(people)}")
assert left_first + cut_first + got_answer == len(people)

# %% [markdown]
# When a user closes the tab, the browser drops the connection. The service
# notices (the stream's client is gone), cancels the agent at its next step or
# token and stops paying - but what it had spent is gone, like the answer (a
# test cuts a real stream and checks that no model call follows). Here one
# user gives up on a streamed answer behind the idle timeout, which would not
# have cut it:

# %%
patience_s = 25.0
first = runs[0]
print(f"assumption: this user waits {patience_s:.0f} s (one draw, chosen for the demo)")
made = sum(step.kind == "model" and step.start_s < patience_s for step in first.steps)
planned = sum(step.kind == "model" for step in first.steps)
print(f"model calls before the tab closed: {made}; the {planned - made} others never happen")
print(f"spent on an answer nobody will read: ${first.cost_by(patience_s):.4f}")
assert 0 < made < planned

# %% [markdown]
# ## 5. The same question as a background job
#
# The fix is in the next notebooks: don't hold the request open. `POST /jobs`
# puts the question on a queue (RQ) and answers `202 Accepted` with a job id at
# once; a worker runs the agent; the browser asks for the status, or listens to
# progress events, in short requests that neither rule cuts. Run the question
# of step 2 that way, behind both rules at once:

# %%
from stream_or_queue.web.clients import poll_job

web.service.edge.duration_s = web.service.edge.idle_s = LIMIT_S
cuts_before = web.service.edge.cut_before_answer + web.service.edge.cut_mid_stream
with httpx2.Client(base_url=web.url, timeout=30) as http:
    accepted = http.post("/jobs", json={"question": example.question})
    outcome = poll_job(http, accepted.json()["id"], first_s=5.0)
cuts = web.service.edge.cut_before_answer + web.service.edge.cut_mid_stream - cuts_before
print(f"{accepted.status_code} {accepted.reason_phrase}, then the job {outcome.status}")
print(
    f"{example.total_s:.1f} s of work behind a {LIMIT_S:.0f} s edge; "
    f"requests cut by the edge meanwhile: {cuts}"
)
assert outcome.status == "finished" and cuts == 0
web.stop()

# %% [markdown]
# No request waited for the work, so every request was short, and the answer
# the edge cut twice in step 2 arrived. The same holds for every question of
# step 1: as jobs, none is cut, however long it runs.

# %% [markdown]
# ## Summary
#
# - A 5-8 tool-call agent takes about a minute, spread widely: a 60 s limit runs
#   through its distribution.
# - A request that is silent until its answer is cut by both kinds of edge: a
#   duration limit and an idle timeout (computed in step 1, seen in step 2).
# - Streaming keeps bytes flowing, which is enough for a load balancer's or a
#   CDN's idle timeout, and not for a function platform's or an API gateway's
#   duration limit: the stream is cut mid-answer after the model calls were
#   billed, and a retry pays again (steps 1 and 2).
# - A deploy and a closed tab end a stream that no edge would cut (steps 3 and 4).
# - As a background job, the same question finishes behind both rules, because
#   no request waits for the work (step 5).

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
