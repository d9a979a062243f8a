# %% [markdown]
# # 09c · Research assistant v3: batch where it can wait
#
# Once the research is a job, nobody watches it being typed - and work that
# nobody watches can wait for the Message Batches API, at half the price. This
# notebook finds the parts that can wait, measures what each change saves, and
# serves the result from the course's web page; 09d then puts v1, v2 and v3 side
# by side.

# %% [markdown]
# ## What you will learn
#
# - Which parts of an agent can wait for a batch (writing the answer, digesting
#   documents) and which cannot (the tool-use turns, which need each answer to
#   choose the next step).
# - Write the answer through the Batches API and gather on a smaller model where
#   quality allows; measure each lever on its own.
# - Serve v3 from the same web page and permalink as v2, by switching one setting,
#   as a DBOS workflow whose batch submission is recorded step by step.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

# %% [markdown]
# ## 1. What can wait
#
# An agent's tool-use turns cannot go through a batch: each needs its answer to
# choose the next tool, and a batch may take minutes (up to 24 hours) per round.
# Two parts can:
#
# - **writing the answer**: once the material is gathered, the four paragraphs can
#   be written by a one-request batch - the user gets an email either way;
# - **digesting the library**: a short summary of every document, made ahead of
#   time by a nightly batch on the small model, so the agent reads digests.
#
# `research.batched.run_research_v3` gathers live (on the small model, told to
# reply DONE instead of writing) and sends the writing to the Batches API on the
# large model. One question, run at time scale 0 (nobody watches it; how long it
# takes comes from its schedule, in the next cell):

# %%
from stream_or_queue import config
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.batched import run_research_v3

with config.time_scale_set_to(0.0):
    v3_one = run_research_v3(QUESTIONS[0])
for use in v3_one.usage:
    tier = "batch" if use.batch else "live"
    print(
        f"  {use.kind:5} {use.model:18} {tier:5} {use.input_tokens:5} in {use.output_tokens:4} out "
        f" ${use.cost_usd:.5f}"
    )
print(
    f"total ${v3_one.cost_usd:.4f} for {len(v3_one.tool_calls)} tool calls and {v3_one.paragraphs} "
    f"paragraphs citing {[s.id for s in v3_one.sources]}"
)

# %% [markdown]
# The same run's schedule (`research.schedule.record`, as 09d uses): each model
# call's time as the simulator scheduled it, each tool call's seeded duration, and
# the wait for the batch - the simulator's turnaround, seen at the job's next look
# at the batch (every 10 s).

# %%
from stream_or_queue.research.schedule import record

v3_schedule = record(QUESTIONS[0], "v3")
assert round(v3_schedule.cost_usd, 6) == round(v3_one.cost_usd, 6)  # the same calls
batch_s = sum(step.duration_s for step in v3_schedule.steps if step.kind == "batch")
print(
    f"time to answer: {v3_schedule.total_s:.0f} s (simulated): "
    f"{v3_schedule.total_s - batch_s:.0f} s gathering live, {batch_s:.0f} s waiting for the "
    "batch - minutes, which nobody watches"
)
assert v3_schedule.total_s > 100

# %% [markdown]
# ## 2. Where the saving comes from
#
# Prices do not depend on time, so the levers can be priced one at a time on the
# same twenty questions (at time scale 0, batches end at once). The nightly
# digests are shared by every question; their batch's cost is spread over them.

# %% [markdown]
# **Predict first.** Before you run the next cell, pick an answer; the cell after
# the measurement puts it beside what was measured (the quick check at the end
# asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("09c_research_v3_batch", only=["small-model-lever"])

# %%
from stream_or_queue.research.compare import cost_levers
from stream_or_queue.research.plots import levers_chart

levers = cost_levers(QUESTIONS[:20])
for lever in levers:
    change = lever.cost_per_question_usd / levers[0].cost_per_question_usd - 1
    print(f"  ${lever.cost_per_question_usd:.4f}  {change:+5.0%} vs v2   {lever.name}")
ax = levers_chart(levers)

# %%
saved = 1 - levers[1].cost_per_question_usd / levers[0].cost_per_question_usd
Quiz.compare("09c_research_v3_batch", "small-model-lever", f"{saved:.0%} cheaper: {levers[1].name}")


# %% [markdown]
# Read it honestly:
#
# - **Writing through the batch** halves the price of the biggest single call. On
#   its own it would not pay here: splitting the writing off costs one more live
#   turn (the model's "DONE"), which eats most of the discount. It pays once the
#   writer is a separate call anyway - which it is as soon as a smaller model
#   gathers.
# - **The smaller model for gathering** (choosing searches and documents) is the
#   biggest lever. The simulator cannot judge quality; the course's checks - four
#   paragraphs, every citation a document the tools returned - pass for both
#   models. Live, run an evaluation before you switch.
# - **Digests** do not pay with these short notes: a digest is nearly as long as
#   the note. With real documents of thousands of tokens they would.
#
# So v3 is "gather on the small model, write through the Batches API", without
# digests. Its answers take minutes, which nobody watches: that is the trade.

# %% [markdown]
# ## 3. The web page serves v3 too
#
# The course's web service runs each question as a DBOS workflow
# (`research.durable.run_research`, as in 09b), which picks the version from
# `STREAM_OR_QUEUE_RESEARCH_VERSION` (v2 unless set). Switch it to v3 and ask through the API, as
# the page does. With no `DBOS_DATABASE_URL` set, DBOS keeps its record in a SQLite
# file next to this notebook:

# %%
import os

import httpx2

from stream_or_queue.research.versions import VERSION_ENV
from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.clients import follow_events

os.environ[VERSION_ENV] = "v3"
web = serve_in_thread(create_app())
try:
    with httpx2.Client(base_url=web.url, timeout=30) as browser:
        question = "Which parts of a research pipeline can wait for a batch?"  # a new one
        job_id = browser.post("/jobs", json={"question": question}).json()["id"]
        log = follow_events(browser, job_id)
        view = browser.get(f"/jobs/{job_id}").json()
        page = browser.get(f"/r/{job_id}").text
finally:
    web.stop()
    del os.environ[VERSION_ENV]
result = view["result"]
print("status:", view["status"], "| version:", result["version"])
print(
    "writing:",
    [
        (u["model"], "batch" if u["batch"] else "live")
        for u in result["usage"]
        if u["kind"] == "write"
    ],
)
print("steps seen:", " -> ".join(dict.fromkeys(log.steps)))
print(
    "sources on the permalink page:", [s["title"] for s in result["sources"] if s["title"] in page]
)

# %% [markdown]
# Every call of v3 is a step in DBOS's record, the batch's too. Submitting the batch is
# two steps - look for a batch this workflow already created, then create one - so a
# crash between creating the batch and recording its id finds the batch on the rerun
# instead of paying for a second one:

# %%
from dbos import DBOS

recorded = [s["function_name"] for s in await DBOS.list_workflow_steps_async(job_id)]
recorded = [n for n in recorded if not n.startswith("DBOS.")]
print(f"{len(recorded)} steps recorded: {sum(n.startswith('tool-') for n in recorded)} tool calls,")
print("then:", [n for n in recorded if not n.startswith(("tool-", "turn-"))])

# %% [markdown]
# ## Summary
#
# - The tool-use turns need answers now; the writing and any digesting can wait.
#   v3 gathers on the small model and writes through the Batches API.
# - Measured lever by lever, most of the saving comes from the smaller model for
#   gathering, which only a job can split from the writing; the batch halves the
#   writing; digests do not pay on short documents.
# - A v3 answer takes minutes instead of about one: fine for a job that ends in a
#   notification and a permalink, which the web page serves for v3 as for v2.
# - 09d measures what all of this buys, against the article's claims.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("09c_research_v3_batch")

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
# ← [09b · Research assistant v2: the job](09b_research_v2_job.ipynb) | [Course index](../README.md#lessons) | [09d · Research assistant: the results](09d_research_results.ipynb) →
#
# **Lab:** [Lab 09 · Capstone: the research assistant](../labs/09_capstone.ipynb) · [solution](../solutions/09_capstone.ipynb)
