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
# - Send the same questions through both kinds of edge, silent and streamed,
#   and measure which ones are cut.
# - Read the simulator's ledger to see what a cut request already paid for, and
#   why retrying does not help.
# - See a deploy and a closed tab end a stream that no edge would cut.
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
# ## 1. How long does the agent take, and when does it send bytes?
#
# `stream_or_queue.research.run_research` is the course's research assistant: it
# calls the model with three tools (search, read a document, take notes), runs
# each tool it asks for, and after 5 to 8 tool calls writes four paragraphs that
# cite their sources. Each search or document read takes simulated seconds, as a
# real web search or page fetch does. Run it on 24 questions at once (a thread
# each) and note the moment of every progress event: a streamed answer sends at
# least those bytes.

# %%
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from stream_or_queue import clock, config
from stream_or_queue.research import questions, run_research

QUESTIONS = questions(24)


def timed_run(question: str):
    """Run the agent; return the run and the moments (s from the start) of its progress events."""
    start = clock.now()
    marks: list[float] = []
    run = run_research(question, progress=lambda _event: marks.append(clock.now() - start))
    return run, [min(max(m, 0.0), run.duration_s) for m in marks]


with ThreadPoolExecutor(max_workers=len(QUESTIONS)) as pool:
    runs, progress_at = zip(*pool.map(timed_run, QUESTIONS), strict=True)

tool_calls = Counter(len(run.tool_calls) for run in runs)
for calls, count in sorted(tool_calls.items()):
    print(f"{calls} tool calls: {count:2d} questions")

# %% [markdown]
# The number of tool calls is the model's plan for each question, so it is the
# same on every run. The durations come from the clock:

# %% tags=["nbval-ignore-output", "why:timing"]
import itertools
import statistics

durations = [run.duration_s for run in runs]
LIMIT_S = config.DEFAULT_EDGE_TIMEOUT_S
over = sum(d > LIMIT_S for d in durations)


def longest_silence(marks: list[float], duration: float) -> float:
    """The longest time without a progress event, from the start to the answer."""
    moments = [0.0, *marks, duration]
    return max(b - a for a, b in itertools.pairwise(moments))


silences = [longest_silence(m, d) for m, d in zip(progress_at, durations, strict=True)]
print(
    f"median {statistics.median(durations):.0f} s, from {min(durations):.0f} s "
    f"to {max(durations):.0f} s (simulated)"
)
print(f"longer than {LIMIT_S:.0f} s: {over} of {len(durations)} questions")
print(f"longest silence between two progress events, any question: {max(silences):.0f} s")
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
# `stream_or_queue.edge.cut_at` applies either rule to a request's timeline. A
# *silent* request (`POST` and wait for the JSON answer) sends nothing until the
# end; a *streamed* one sends at least its progress events. For the 24 questions:

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.edge import cut_at

print(f"{'edge':26s} {'rule':8s} {'limit':>6s}   silent cut   streamed cut")
for limit in config.EDGE_LIMITS:
    silent_n = sum(cut_at(limit, d) is not None for d in durations)
    streamed_n = sum(
        cut_at(limit, d, m) is not None for d, m in zip(durations, progress_at, strict=True)
    )
    print(
        f"{limit.name:26s} {limit.kind:8s} {limit.seconds:5.0f} s   "
        f"{silent_n:3d} of {len(durations)}    {streamed_n:3d} of {len(durations)}"
    )
    if limit.kind == "idle" and limit.seconds > max(silences):
        assert streamed_n == 0  # every silence of a stream is shorter than the timeout
    if limit.kind == "duration":
        assert streamed_n == silent_n  # a duration limit ignores the bytes
print(f"(vendor figures as documented in {config.EDGE_LIMITS[0].documented})")

# %% [markdown]
# ## 2. A silent request through both kinds of edge
#
# Now the real thing. `stream_or_queue.web` serves the same agent over HTTP,
# behind `Edge`: ASGI middleware that applies either rule on simulated seconds,
# answers `504 Gateway Timeout` to a request that has not started its answer,
# and drops the connection of one that has. `POST /research/sync` is the
# chat-box design: the whole agent runs inside the request, and the answer comes
# back in the response. Send 12 of the questions (every other one, so that short
# and long ones are both there) through a 60 s duration limit, then through a
# 60 s idle timeout.

# %%
import socket
import subprocess
import sys

import httpx2

from stream_or_queue.web import create_app, serve_in_thread

web = serve_in_thread(create_app(edge_timeout_s=LIMIT_S))

# A second copy of the service, as a process of its own, for step 4's deploy; it
# starts now because a new process takes a few seconds to import its libraries.
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = subprocess.Popen(
    [
        sys.executable,
        "-m",
        "stream_or_queue.web",
        "--port",
        str(port),
        "--edge-timeout",
        "0",
        "--edge-idle",
        f"{LIMIT_S:g}",
        "--time-scale",
        f"{config.time_scale():g}",
    ],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)


def edge_rule(kind: str) -> None:
    """Give the service's edge one rule: a duration limit or an idle timeout of LIMIT_S."""
    web.service.edge.duration_s = LIMIT_S if kind == "duration" else None
    web.service.edge.idle_s = LIMIT_S if kind == "idle" else None


def ask_and_wait(question: str) -> int:
    with httpx2.Client(base_url=web.url, timeout=120) as http:
        return http.post("/research/sync", json={"question": question}).status_code


SAMPLE = QUESTIONS[::2]
predicted = sum(d > LIMIT_S for d in durations[::2])
silent_cut = {}
for kind in ("duration", "idle"):
    edge_rule(kind)
    with ThreadPoolExecutor(max_workers=len(SAMPLE)) as pool:
        statuses = list(pool.map(ask_and_wait, SAMPLE))
    assert set(statuses) <= {200, 504}, statuses
    silent_cut[kind] = statuses.count(504)

# %% tags=["nbval-ignore-output", "why:timing"]
for kind, cut in silent_cut.items():
    print(f"silent request, 60 s {kind} rule: cut {cut} of {len(SAMPLE)} (504)")
print(f"predicted from the durations of step 1: {predicted} of {len(SAMPLE)}")
assert all(cut >= 0.2 * len(SAMPLE) for cut in silent_cut.values()), silent_cut
print(
    "A silent request is cut by either rule: it sends no byte until its answer, "
    "so for it the idle timeout is a duration limit."
)
if max(silent_cut.values()) > predicted:
    print(
        "More were cut than step 1 predicts: here the agents share one process with "
        "the web server, so each runs a little slower than in step 1."
    )

# %% [markdown]
# The edge does not care that the work was nearly done: at 60 s it ends the
# request.
#
# ## 3. A stream through both kinds of edge
#
# `GET /research/stream` runs the same agent and streams its progress and text
# as server-sent events, so bytes flow every few seconds. Send the same 12 questions
# that way through the same two rules.


# %% [markdown]
# **Predict first.** Before you run the next cell, pick an answer; the cell after
# the measurement puts it beside what was measured (the quick check at the end
# asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("04_why_long_sync_requests_fail", only=["stream-behind-idle-timeout"])


# %%
def stream(question: str) -> bool:
    """Read a streamed answer until its end or until the edge drops it: answer delivered?"""
    answered = False
    try:
        with (
            httpx2.Client(base_url=web.url, timeout=120) as http,
            http.stream("GET", "/research/stream", params={"question": question}) as response,
        ):
            for event in httpx2.EventSource(response):
                answered = answered or event.event == "done"
    except httpx2.RemoteProtocolError:
        pass  # the edge dropped the connection
    return answered


streamed = {}
for kind in ("idle", "duration"):
    edge_rule(kind)
    with ThreadPoolExecutor(max_workers=len(SAMPLE)) as pool:
        streamed[kind] = list(pool.map(stream, SAMPLE))

# %% tags=["nbval-ignore-output", "why:timing"]
for kind, answered in streamed.items():
    print(
        f"stream, 60 s {kind} rule: answered {sum(answered)} of {len(SAMPLE)}, "
        f"cut before the answer {answered.count(False)}"
    )
assert all(streamed["idle"]), "a stream that keeps sending survives the idle timeout"
assert streamed["duration"].count(False) >= 0.2 * len(SAMPLE)
print(
    "The idle timeout spared every stream (bytes kept flowing); "
    "the duration limit cut the long ones mid-answer anyway."
)


# %%
idle_answered = f"{sum(streamed['idle'])} of {len(SAMPLE)}"
Quiz.compare(
    "04_why_long_sync_requests_fail",
    "stream-behind-idle-timeout",
    f"{idle_answered} streams answered behind the idle timeout",
)

# %% [markdown]
# So "stream it" is the right fix for a load balancer's idle timeout, and no fix
# at all for a function platform's duration limit. Behind a duration limit, what
# does a cut stream cost? Take the slowest question of step 1, clear the
# simulator's ledger, stream it, and then retry it.

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


def billed_attempt(question: str) -> dict:
    """Stream `question` once; what the user got and what the model calls cost."""
    sim.reset()
    answered = stream(question)
    settle()
    records = list(sim.ledger)
    cost = token_cost(
        sum(r.input_tokens for r in records),
        sum(r.generated_tokens for r in records),
        config.LARGE_MODEL,
    )
    return {"answered": answered, "model calls": len(records), "billed $": cost}


edge_rule("duration")
slowest = QUESTIONS[max(range(len(runs)), key=lambda i: durations[i])]
attempts = [billed_attempt(slowest), billed_attempt(slowest)]
for name, attempt in zip(("first try", "retry"), attempts, strict=True):
    print(
        f"{name:9s}: answer delivered: {attempt['answered']}, "
        f"{attempt['model calls']} model calls billed, ${attempt['billed $']:.4f}"
    )
assert not any(a["answered"] for a in attempts)
assert all(a["model calls"] >= 1 and a["billed $"] > 0 for a in attempts)
print(
    f"paid for two attempts, ${sum(a['billed $'] for a in attempts):.4f}, "
    "and the user has no answer"
)

# %% [markdown]
# Every model call the agent made before the cut was billed: the input tokens of
# each turn (the whole conversation so far, tool results included) and the output
# tokens generated. A retry starts from scratch and is cut again: the question
# is simply longer than the edge allows.
#
# ## 4. A deploy ends the stream no edge would cut
#
# A new release replaces the server process. The platform first stops sending
# it new requests and lets it finish the ones it has, for a drain period, then
# kills it. Run the service as a real process of its own, behind the idle
# timeout only (started in step 2), stream the slowest question, and deploy
# 30 s into the answer.

# %% tags=["nbval-ignore-output", "why:timing"]
print(
    f"assumption: the drain lasts {config.DEPLOY_DRAIN_S:.0f} s "
    "(Kubernetes' default termination grace period, config.DEPLOY_DRAIN_S)"
)
deployed_url = f"http://127.0.0.1:{port}"
for _ in range(600):  # bounded: the new process imports its libraries first
    try:
        if httpx2.get(f"{deployed_url}/healthz").status_code == 200:
            break
    except httpx2.TransportError:
        time.sleep(0.05)

received: Counter[str] = Counter()
ended = "the answer arrived"
deploy_at = None
try:
    with (
        httpx2.Client(base_url=deployed_url, timeout=120) as http,
        http.stream("GET", "/research/stream", params={"question": slowest}) as response,
    ):
        started = time.perf_counter()
        for event in httpx2.EventSource(response):
            received[event.event] += 1
            if deploy_at is None and clock.to_sim(time.perf_counter() - started) >= 30:
                deploy_at = clock.to_sim(time.perf_counter() - started)
                server.terminate()  # the deploy: drain, then kill
                try:
                    server.wait(timeout=clock.to_real(config.DEPLOY_DRAIN_S))
                except subprocess.TimeoutExpired:
                    server.kill()
        if "done" not in received:
            ended = "the stream ended without its answer"
except httpx2.TransportError:
    ended = "the connection dropped"
finally:
    if server.poll() is None:
        server.kill()
    server.wait(timeout=10)
print(
    f"deploy {deploy_at:.0f} s into a {max(durations):.0f} s answer; "
    f"received {received['progress']} progress events; {ended}"
)
assert "done" not in received and deploy_at is not None

# %% [markdown]
# The drain saves a stream that ends within it; an agent's minute-long answer
# does not. The work is lost with the process, whichever edge is in front.
#
# ## 5. A user closing the tab
#
# The edge is not the only one with a time limit. Nobody can measure real users
# from a notebook, so the course states a **model** (`stream_or_queue.research.users`):
# each user keeps the tab open for a patience drawn from a seeded log-normal
# distribution. Pair each question of step 1 with one modelled user, behind the
# 60 s duration limit:

# %% tags=["nbval-ignore-output", "why:timing"]
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
# notices (the stream's client is gone), cancels the agent at its next step and
# stops paying - but what it had spent is gone, like the answer. Here one user
# gives up on a streamed answer behind the idle timeout, which would not have
# cut it:

# %% tags=["nbval-ignore-output", "why:timing"]
edge_rule("idle")
sim.reset()
patience_s = 25.0
print(f"assumption: this user waits {patience_s:.0f} s (one draw, chosen for the demo)")
with (
    httpx2.Client(base_url=web.url, timeout=120) as http,
    http.stream("GET", "/research/stream", params={"question": QUESTIONS[0]}) as response,
):
    deadline = time.perf_counter() + clock.to_real(patience_s)
    for _event in httpx2.EventSource(response):
        if time.perf_counter() > deadline:
            break  # the tab is closed: leaving the block drops the connection
time.sleep(0.3)  # real time for the server to notice the hang-up (bounded, generous under load)
settle()
calls_at_close = len(sim.ledger)
time.sleep(clock.to_real(20))
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
# ## 6. The same questions as background jobs
#
# The fix is in the next notebooks: don't hold the request open. `POST /jobs`
# puts the question on a queue (RQ) and answers `202 Accepted` with a job id at
# once; workers run the agent; the browser asks for the status, or listens to
# progress events, in short requests that neither rule cuts. Run half of the
# questions that way, behind both rules at once, with six workers:

# %%
from stream_or_queue.jobs import ThreadWorker
from stream_or_queue.web.clients import poll_job

web.service.edge.duration_s = web.service.edge.idle_s = LIMIT_S
extra_workers = [ThreadWorker([config.WEB_QUEUE]).start() for _ in range(5)]
cuts_before = web.service.edge.cut_before_answer + web.service.edge.cut_mid_stream
with httpx2.Client(base_url=web.url, timeout=30) as http:
    accepted = [http.post("/jobs", json={"question": q}) for q in QUESTIONS[:12]]
    outcomes = [poll_job(http, r.json()["id"], first_s=5.0) for r in accepted]
print(sorted(Counter(r.status_code for r in accepted).items()))
print(sorted(Counter(o.status for o in outcomes).items()))

# %% tags=["nbval-ignore-output", "why:timing"]
slow = sum(o.view["result"]["duration_s"] > LIMIT_S for o in outcomes)
cuts = web.service.edge.cut_before_answer + web.service.edge.cut_mid_stream - cuts_before
print(
    f"jobs longer than the edge's {LIMIT_S:.0f} s: {slow} of {len(outcomes)}; "
    f"requests cut by the edge meanwhile: {cuts}"
)
assert all(o.status == "finished" for o in outcomes) and cuts == 0
print("Every job finished, the long ones too: no request waited for the work.")

# %%
for worker in extra_workers:
    worker.stop()
web.stop()

# %% [markdown]
# ## Summary
#
# - A 5-8 tool-call agent takes about a minute, spread widely: a 60 s limit runs
#   through its distribution.
# - A request that is silent until its answer is cut by both kinds of edge: a
#   duration limit and an idle timeout (asserted in step 2).
# - Streaming keeps bytes flowing, which is enough for a load balancer's or a
#   CDN's idle timeout, and not for a function platform's or an API gateway's
#   duration limit: the stream is cut mid-answer after the model calls were
#   billed, and a retry pays again (steps 1 and 3).
# - A deploy and a closed tab end a stream that no edge would cut (steps 4 and 5).
# - As background jobs, the same questions all finish behind both rules, because
#   no request waits for the work (step 6).

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
