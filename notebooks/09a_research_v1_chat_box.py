# %% [markdown]
# # 09a · Research assistant v1: the chat box
#
# The course's worked example is a research assistant: type a question, get four
# paragraphs with citations. Behind it an agent searches a library, reads what it
# found, takes notes and writes - five to eight tool calls and about a minute of
# work. The instinctive design is a chat box: one streaming request that stays
# open while the agent works. This notebook builds exactly that, puts it behind
# a 60-second edge and lets sixty simulated users use it. Everything that goes
# wrong is measured, so that 09b-09d can measure the fix against it.

# %% [markdown]
# ## What you will learn
#
# - How the assistant works: a corpus, three tools, and an agent loop on the SDK's
#   tool use, every step taking simulated time.
# - What an edge does to a chat box whose answers take about a minute: a
#   duration limit and an idle timeout, over 60 questions.
# - What users add: a stated, seeded patience model, abandonment, and the answers
#   that reach nobody.
# - What a failure costs: tool calls and tokens paid for and thrown away, at the
#   live price, and what a deploy does to every conversation in flight.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

# %% [markdown]
# ## 1. The assistant: a library, three tools, a loop
#
# `stream_or_queue.research` bundles a few dozen short notes written for the course
# (ids `doc-1` ... `doc-36`) and three tools over them: `search`, `read_document`
# and `take_notes`. Each tool call takes simulated time - a search service
# answering, a page loading - so that a question lasts as long as a real agent's.

# %%
from stream_or_queue.research import CORPUS, QUESTIONS, TOOLS, search

print(f"{len(CORPUS)} documents, {len(QUESTIONS)} questions, tools: {[t['name'] for t in TOOLS]}")
for hit in search("edge timeout load balancer"):
    print(f"  {hit.document.id:7} {hit.score:5.2f}  {hit.document.title}")

# %% [markdown]
# The agent loop is the textbook one: send the question with the tool
# definitions; when the model answers with `tool_use` blocks, run the tools and
# send their results back; stop when it answers with text. `run_research` does
# that and reports structured progress events as it goes. (Offline, the
# simulated model plans 5-8 tool calls and cites the documents it was shown.)

# %% [markdown]
# **Predict first.** Before you run the next cell, pick an answer; the cell after
# the measurement puts it beside what was measured (the quick check at the end
# asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("09a_research_v1_chat_box", only=["model-calls"])

# %%
from stream_or_queue.research import run_research

result = run_research(
    QUESTIONS[0], progress=lambda e: print(f"  {e['percent']:3}% {e['step']:9} {e['message']}")
)
print()
for call in result.tool_calls:
    print(
        f"  {call.name:13} {call.duration_s:5.1f} s (simulated)  "
        f"{next(iter(call.input.values()))[:50]}"
    )
print(
    f"\n{len(result.tool_calls)} tool calls, {len(result.usage)} model calls, "
    f"{result.input_tokens:,} input + {result.output_tokens:,} output tokens, "
    f"${result.cost_usd:.4f}"
)


# %%
calls = f"{len(result.usage)} model calls for {len(result.tool_calls)} tool calls"
Quiz.compare("09a_research_v1_chat_box", "model-calls", calls)

# %%
print(result.answer)
print()
for source in result.sources:
    print(f"[{source.id}] {source.title}")

# %% [markdown]
# How long did that take? Every model call's timing is decided by the simulator
# from the request itself (its time to the first token, its token rate), and
# every tool's duration is seeded by its input. So one run at time scale 0
# records the question's exact *schedule*, which is the same on every machine.
# `research.schedule.record` does that (on a private simulator, so your ledger
# stays clean); the course's outcomes are computed from these schedules.

# %%
from stream_or_queue.research.schedule import record

plan = record(QUESTIONS[0])
in_tools = sum(s.duration_s for s in plan.steps if s.kind == "tool")
in_model = sum(s.duration_s for s in plan.steps if s.kind == "model")
print(
    f"the question takes {plan.total_s:.1f} s (simulated): {in_tools:.1f} s in "
    f"{plan.tool_calls} tool calls, {in_model:.1f} s in {len(plan.steps) - plan.tool_calls} "
    "model calls"
)
assert [round(s.duration_s, 3) for s in plan.steps if s.kind == "tool"] == [
    c.duration_s for c in result.tool_calls
]  # the schedule is the run you just watched
assert plan.cost_usd == result.cost_usd

# %% [markdown]
# ## 2. v1: the chat box behind an edge
#
# In v1 the browser posts the question and the server runs the whole loop inside
# that request, streaming progress and the answer's tokens back. In production
# something sits in front of the server and ends requests, by one of two rules:
#
# - a **duration limit** counts the request's *total* time, however busy the
#   connection is (function platforms, API gateways): streaming does not help;
# - an **idle (read) timeout** counts the time *without a byte* (load balancers,
#   CDN proxies): a stream that keeps sending survives it.
#
# The course's edge is a 60 s duration limit (`config.DEFAULT_EDGE_TIMEOUT_S`).
# `research.compare.measure_chat` computes what it does to every question, from
# its schedule: first with users who never give up, so that only the edge can
# end a request.

# %%
import statistics

from stream_or_queue import config
from stream_or_queue.research.compare import measure_chat, summarize_runs
from stream_or_queue.research.plots import duration_histogram
from stream_or_queue.research.schedule import schedules

plans = schedules(QUESTIONS)
lengths = sorted(p.total_s for p in plans)
edge_only = measure_chat(QUESTIONS, patient=True)
edge = summarize_runs(edge_only)
limit = config.DEFAULT_EDGE_TIMEOUT_S
print(
    f"the {len(plans)} questions take {lengths[0]:.0f}-{lengths[-1]:.0f} s (simulated), "
    f"median {statistics.median(lengths):.0f} s"
)
print(
    f"a {limit:.0f} s duration limit cuts {edge.timeout_rate:.0%} of them "
    f"({sum(r.timed_out for r in edge_only)} of {edge.questions}); the article's figure "
    "at a 60 s limit: 50%"
)
ax = duration_histogram(edge_only)
assert edge.timeout_rate == sum(t > limit for t in lengths) / len(lengths)

# %% [markdown]
# Each cut request was still working when the edge ended it: the answer never
# arrives, whatever the agent had done by then. The share cut is exactly the
# share of questions whose run is longer than the limit, so it depends only on
# how long the agent takes (the simulated tools and model) and on the limit.
#
# The same questions against the real edges of `config.EDGE_LIMITS`, once as a
# **silent** request (a plain POST that answers at the end) and once as v1's
# **stream** (a progress event at every step, then the answer's tokens):

# %%
from stream_or_queue.edge import cut_at

print(f"{'edge':28}{'rule':>10}{'limit':>8}{'silent cut':>12}{'stream cut':>12}")
for edge_limit in config.EDGE_LIMITS:
    silent = sum(cut_at(edge_limit, p.total_s) is not None for p in plans) / len(plans)
    streamed = sum(
        cut_at(edge_limit, p.total_s, [t for t in p.sent_at() if t <= p.total_s]) is not None
        for p in plans
    ) / len(plans)
    print(
        f"{edge_limit.name:28}{edge_limit.kind:>10}{edge_limit.seconds:>7.0f}s"
        f"{silent:>12.0%}{streamed:>12.0%}"
    )
    if edge_limit.kind == "duration":
        assert silent == streamed  # a duration limit ignores the bytes
    else:
        assert streamed <= silent
longest_silence = max(p.longest_silence_s for p in plans)
print(f"\nthe stream's longest silence: {longest_silence:.0f} s (figures checked December 2026)")
assert longest_silence < min(e.seconds for e in config.EDGE_LIMITS if e.kind == "idle")

# %% [markdown]
# Streaming saves the request from an idle timeout only: the stream's longest
# silence is shorter than any idle timeout in the table. Under a duration limit,
# a stream dies exactly like a silent request; and no edge setting protects it
# from a deploy or a closed tab (below).
#
# ## 3. Real users close the tab
#
# People do not wait forever. A notebook cannot observe real users, so the
# course states its user model instead of pretending to measure one. It is an
# **assumption**, printed here where it is used:

# %%
from stream_or_queue.research.users import users

people = users(len(QUESTIONS), seed=0)
waits = sorted(u.patience_s for u in people)
print(
    "assumption (the course's model, not a measurement): patience is log-normal with "
    f"median {config.USER_PATIENCE_MEDIAN_S:.0f} s and sigma {config.USER_PATIENCE_SPREAD}"
)
print(
    f"these {len(waits)} users: median {statistics.median(waits):.0f} s, shortest "
    f"{waits[0]:.0f} s, longest {waits[-1]:.0f} s; "
    f"{sum(w < limit for w in waits)} of them give up before the edge would cut"
)

# %% [markdown]
# The same sixty people (seeded) meet v1 here, and v2 and v3 in 09b-09d.

# %%
chat = measure_chat(QUESTIONS)
v1 = summarize_runs(chat)
print(f"answer reached the user: {v1.completion_rate:5.0%}")
print(f"cut by the edge:         {v1.timeout_rate:5.0%}")
print(f"user closed the tab:     {v1.abandonment_rate:5.0%}")
ax = duration_histogram(chat)
left_first = sum(e.timed_out and r.abandoned for e, r in zip(edge_only, chat, strict=True))
print(
    f"with users who leave, the edge cuts {v1.timeout_rate:.0%} instead of "
    f"{edge.timeout_rate:.0%}: on {left_first} of its questions the user closed the tab first"
)
assert left_first == sum(e.timed_out for e in edge_only) - sum(r.timed_out for r in chat)
assert v1.completion_rate + v1.timeout_rate + v1.abandonment_rate == 1
assert v1.timeout_rate <= edge.timeout_rate and v1.completion_rate <= edge.completion_rate

# %% [markdown]
# Closing the tab ends the request, and the server stops the agent at once - which
# saves the rest of the bill, and throws away everything already done.
#
# ## 4. What a failure throws away, and what it costs
#
# Every cut or abandoned request paid for its model calls (input tokens, and the
# output tokens a cancelled stream had generated up to the cut) and ran its tool
# calls. None of it reached anyone, and asking again starts from scratch. All of
# it is billed at the live price.

# %%
lost = [r for r in chat if not r.delivered]
spent = v1.cost_per_question_usd * v1.questions
print(f"questions that failed: {len(lost)} of {len(chat)}")
print(f"tool calls done and thrown away: {v1.lost_tool_calls}")
print(f"tokens paid for and thrown away: {sum(r.input_tokens + r.output_tokens for r in lost):,}")
print(
    f"money spent on nothing: ${v1.lost_cost_usd:.2f} of ${spent:.2f} "
    f"({v1.lost_cost_usd / spent:.0%})"
)
print(
    f"cost per question asked: ${v1.cost_per_question_usd:.4f}; "
    f"per answer delivered: ${v1.cost_per_answer_usd:.4f}"
)
assert v1.lost_tool_calls > 0 and v1.cost_per_answer_usd > v1.cost_per_question_usd

# %% [markdown]
# ## 5. A deploy
#
# Shipping a new version of the web app replaces its processes. Every chat request
# in flight dies with them - here twelve users, 30 s into their questions:

# %%
from stream_or_queue.research.compare import deploy_chat

deployed = deploy_chat(QUESTIONS[:12], at_s=30.0)
print(
    f"in flight: {deployed.in_flight}, answered anyway: {deployed.answered}, "
    f"tool calls lost: {deployed.tool_calls_lost}, money lost: ${deployed.cost_lost_usd:.3f}"
)
assert deployed.answered == sum(p.total_s <= 30.0 for p in plans[:12])
assert deployed.tool_calls_lost > 0

# %% [markdown]
# ## Summary
#
# - The research assistant is an agent loop: 5-8 tool calls, each a model turn plus
#   a tool's own time, so a question takes about a minute (the range is printed
#   in section 2).
# - Every outcome here is computed from each question's recorded schedule, on
#   simulated time: the same figures on every machine and every run.
# - A duration limit cuts every run longer than it, streamed or not; an idle
#   timeout spares a stream that keeps sending. With the stated user model, more
#   users leave first, and the printed completion rate is what v2 and v3 must beat.
# - Every failure throws away the tool calls and tokens already paid for, at the
#   live price; a deploy kills every conversation in flight.
# - Nothing here is a bug in the agent. The chat box was the wrong shape for a
#   one-minute task - 09b gives it the right one.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("09a_research_v1_chat_box")

# %% [markdown]
# ## Lab
#
# [Capstone lab](../labs/09_capstone.ipynb): rebuild v2 from v1 yourself - a job
# module with `submit` and a durable `research_job` - and let the checks crash a
# worker under it, send it through the 60 s edge and print the results table.
# ([solution](../solutions/09_capstone.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [08 · Durability](08_durability.ipynb) | [Course index](../README.md#lessons) | [09b · Research assistant v2: the job](09b_research_v2_job.ipynb) →
#
# **Lab:** [Lab 09 · Capstone: the research assistant](../labs/09_capstone.ipynb) · [solution](../solutions/09_capstone.ipynb)
