# %% [markdown]
# # 09a · Research assistant v1: the chat box
#
# The course's worked example is a research assistant: type a question, get four
# paragraphs with citations. Behind it an agent searches a library, reads what it
# found, takes notes and writes - five to eight tool calls and a minute or two of
# work. The instinctive design is a chat box: one streaming request that stays
# open while the agent works. This notebook builds exactly that, puts it behind
# a 60-second edge and lets sixty simulated users use it. Everything that goes
# wrong is measured, so that 09b-09d can measure the fix against it.

# %% [markdown]
# ## What you will learn
#
# - How the assistant works: a corpus, three tools, and an agent loop on the SDK's
#   tool use, every step taking simulated time.
# - What a 60 s edge does to a chat box whose answers take about a minute: the
#   timeout rate over 60 questions.
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
print(result.answer)
print()
for source in result.sources:
    print(f"[{source.id}] {source.title}")

# %% tags=["nbval-ignore-output", "why:timing"]
print(
    f"the question took {result.duration_s:.0f} s (simulated), "
    f"{sum(c.duration_s for c in result.tool_calls):.0f} s of it in tools"
)
assert 30 < result.duration_s < 150

# %% [markdown]
# ## 2. v1: the chat box behind a 60 s edge
#
# In v1 the browser posts the question and the server runs the whole loop inside
# that request, streaming progress and the answer's tokens back. In production a
# load balancer, CDN or function platform sits in front and ends any request
# still open after its limit (`config.EDGE_TIMEOUTS_S`); 60 s is common.
#
# `research.compare.measure_chat` runs that for real: a FastAPI app behind the web
# service's `EdgeTimeout` middleware, served by uvicorn on loopback, and one
# streaming HTTP client per question - all sixty at once, arriving a quarter of a
# second apart. `measure_v1` runs it twice, side by side: with users who never give
# up, so that only the edge can end a request, and with the real users of
# section 3. (Sixty agents need real CPU time, so each run has a core of its own -
# the patient one in a second process - and slows the clock to
# `config.RESEARCH_CHAT_TIME_SCALE`; the figures stay in simulated seconds.)

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.research.compare import measure_v1, summarize_runs
from stream_or_queue.research.plots import duration_histogram

edge_only, chat = measure_v1(QUESTIONS)
edge = summarize_runs(edge_only)
print(
    f"cut by the edge: {edge.timeout_rate:.0%} of {edge.questions} questions; "
    f"answered: {edge.completion_rate:.0%}"
)
ax = duration_histogram(edge_only)
assert 0.25 <= edge.timeout_rate <= 0.85

# %% [markdown]
# About half of the requests are still working when the edge cuts them: the
# answers that needed 60 s or more never arrive, whatever the agent had done by
# then. (The article reports the same: a 60 s limit killed half the requests. Both
# of its figures - "60-120 s" and "half" - can only be true if about half the
# questions finish just under a minute, which is how the simulated agent behaves:
# from about 40 s to about 2 minutes, with a median near 60 s.)
#
# ## 3. Real users close the tab
#
# People do not wait forever. The course states its user model instead of
# pretending to measure one: each user's patience is drawn from a log-normal
# distribution (`config.USER_PATIENCE_MEDIAN_S`, `config.USER_PATIENCE_SPREAD`),
# seeded, so that v1, v2 and v3 meet the same sixty people. They are the users of
# the second run above.

# %%
import statistics

from stream_or_queue import config
from stream_or_queue.research.users import users

people = users(len(QUESTIONS), seed=0)
waits = sorted(u.patience_s for u in people)
print(
    f"patience: median {statistics.median(waits):.0f} s, shortest {waits[0]:.0f} s, "
    f"longest {waits[-1]:.0f} s (model: median {config.USER_PATIENCE_MEDIAN_S:.0f} s)"
)
print(
    f"{sum(w < config.DEFAULT_EDGE_TIMEOUT_S for w in waits)} of {len(waits)} give up "
    "before the edge would"
)

# %% tags=["nbval-ignore-output", "why:timing"]
v1 = summarize_runs(chat)
print(f"answer reached the user: {v1.completion_rate:5.0%}")
print(f"cut by the edge:         {v1.timeout_rate:5.0%}")
print(f"user closed the tab:     {v1.abandonment_rate:5.0%}")
ax = duration_histogram(chat)
assert v1.completion_rate < 0.75 and v1.timeout_rate + v1.abandonment_rate > 0.25

# %% [markdown]
# Closing the tab ends the request, and the server stops the agent at once - which
# saves the rest of the bill, and throws away everything already done.
#
# ## 4. What a failure throws away, and what it costs
#
# Every cut or abandoned request paid for its model calls (input and output
# tokens, including the tokens a cancelled stream had generated) and ran its tool
# calls. None of it reached anyone, and asking again starts from scratch. All of
# it is billed at the live price.

# %% tags=["nbval-ignore-output", "why:timing"]
lost = [r for r in chat if not r.delivered]
print(f"questions that failed: {len(lost)}")
print(f"tool calls done and thrown away: {v1.lost_tool_calls}")
print(f"tokens paid for and thrown away: {sum(r.input_tokens + r.output_tokens for r in lost):,}")
print(
    f"money spent on nothing: ${v1.lost_cost_usd:.2f} of "
    f"${v1.cost_per_question_usd * v1.questions:.2f}"
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

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.research.compare import deploy_chat

deployed = deploy_chat(QUESTIONS[:12], at_s=30.0)
print(
    f"in flight: {deployed.in_flight}, answered anyway: {deployed.answered}, "
    f"tool calls lost: {deployed.tool_calls_lost}, money lost: ${deployed.cost_lost_usd:.3f}"
)
assert deployed.answered == 0 and deployed.tool_calls_lost > 0

# %% [markdown]
# ## Summary
#
# - The research assistant is an agent loop: 5-8 tool calls, each a model turn plus
#   a tool's own time, about a minute per question.
# - Held open in a chat box behind a 60 s edge, about half of the questions are cut
#   before their answer; with the (stated) user model, more users leave first, and
#   only a minority of questions end with an answer on the screen.
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
