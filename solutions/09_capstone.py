# %% [markdown]
# # Capstone lab · The research assistant
#
# You have seen v1 fail and v2 fix it. Now build v2 yourself: a job module with
# `submit` and `research_job`, on real RQ workers. The checks run your job,
# crash a worker in the middle of it, send it through the same 60 s edge as the
# chat box, and print the results table.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup
from stream_or_queue.labs import lab09

env = setup(seed=0)

# %% [markdown]
# ## The starting point: v1
#
# The chat box holds the whole agent inside one request. Three questions through
# the 60 s edge, with users who would wait forever:

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.compare import measure_chat

for run in measure_chat(QUESTIONS[:3], patient=True):
    outcome = "answered" if run.delivered else "cut by the edge"
    print(
        f"{outcome:16} after {run.longest_request_s:3.0f} s, {run.tool_calls} tool calls - "
        f"{run.question}"
    )

# %% [markdown]
# ## 1. The job module
#
# A worker imports job functions by module and name, so the job goes in a file:
# the next cell writes `research_jobs.py` next to this notebook. Complete it:
#
# 1. `submit(queue, question)` - what a web handler calls. Refuse a bad question
#    *before* enqueueing (`check_question(question)` raises `ValueError`), enqueue
#    `research_job` with the question and `retry=Retry(max=3)` (a crashed job is
#    only run again if it has retries), return the job's id.
# 2. `research_job(question)` - what the worker runs:
#    - open a durable run: `with DurableRun.current() as run:`;
#    - call `run_research(question, progress=..., steps=run)`: `steps=run`
#      checkpoints every model turn and tool call; `progress` receives events
#      `{"step", "percent", "message"}` - pass them on with
#      `report_progress(event["percent"], event["step"], event["message"])`;
#    - turn the result into JSON data: `result.as_dict()`;
#    - send the notification once: `run.once("notify", notify, job.id, question,
#      data, run.key("notify"))`;
#    - return the data.
#
# Run the cell again after each change: the checks reload the module.

# %% tags=["nbval-ignore-output", "why:files"]
# %%writefile research_jobs.py
"""The capstone's job functions: RQ imports them from this module."""

from rq import Retry, get_current_job

from stream_or_queue.durable import DurableRun
from stream_or_queue.jobs import Inbox, Message, report_progress
from stream_or_queue.research import check_question, run_research

INBOX = "capstone"


def notify(job_id, question, result, key):
    """Tell the user the answer is ready: one message per idempotency key."""
    body = f"Your question: {question}\nThe answer is ready: /r/{job_id}"
    message = Message(
        subject="Your research answer is ready", body=body, job_id=job_id, idempotency_key=key
    )
    Inbox(INBOX).append(message)


def submit(queue, question):
    """Check the question, enqueue research_job with retries, return the job id."""
    ### BEGIN SOLUTION
    question = check_question(question)
    job = queue.enqueue(research_job, question, retry=Retry(max=3))
    return job.id
    ### END SOLUTION


def research_job(question):
    """Answer `question` durably: checkpoints, progress, one notification."""
    job = get_current_job()

    ### BEGIN SOLUTION
    def progress(event):
        report_progress(event["percent"], event["step"], event["message"])

    with DurableRun.current() as run:
        result = run_research(question, progress=progress, steps=run)
        data = result.as_dict()
        run.once("notify", notify, job.id, question, data, run.key("notify"))
        return data
    ### END SOLUTION


# %% [markdown]
# ## 2. Check: one question as a job
#
# The check refuses two bad questions, then runs one on a worker and looks at the
# answer, the progress in the job's meta and the inbox.

# %%
research_jobs = lab09.load_job_module("research_jobs")
lab09.check_job(research_jobs)

# %% [markdown]
# ## 3. Check: a crash in the middle
#
# The check kills the worker while your job is taking notes, hands the job back to
# RQ and waits for the second attempt. It passes when no finished step ran again
# and exactly one notification was sent.

# %% tags=["nbval-ignore-output", "why:timing"]
lab09.check_crash(research_jobs)

# %% [markdown]
# ## 4. Check: the edge, and the results table
#
# Twelve questions through the same 60 s edge: once as the chat box, once through
# your `submit`. The table is printed either way; the check passes when none of
# your requests was cut and more answers reached their users.

# %% tags=["nbval-ignore-output", "why:timing"]
lab09.check_edge_and_results(research_jobs)

# %% [markdown]
# Compare with the course's version, `stream_or_queue.research.job`: it adds v3
# (writing through the Batches API), a check on the version and result TTLs.

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [Lab 08 · Durability](08_durability.ipynb) | [Course index](../README.md#lessons) | [Lab 10 · Choosing a pattern](10_choosing_a_pattern.ipynb) →
#
# **Lesson:** [09a · Research assistant v1: the chat box](../notebooks/09a_research_v1_chat_box.ipynb), [09b · Research assistant v2: the job](../notebooks/09b_research_v2_job.ipynb), [09c · Research assistant v3: batch](../notebooks/09c_research_v3_batch.ipynb), [09d · Research assistant: the results](../notebooks/09d_research_results.ipynb) · **Lab:** [09_capstone](../labs/09_capstone.ipynb)
