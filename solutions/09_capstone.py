# %% [markdown]
# # Capstone lab · The research assistant v2, on a durable engine
#
# In 09a you saw v1, the chat box, lose answers to the 60 s edge, to impatient
# users and to every deploy; in 09b, v2 fix it. Now build v2 yourself, on DBOS, from a spec. The
# checks call your code for real: they run it in a worker process and kill that
# process with SIGKILL, put the 60 s edge in front of it, and count the
# notifications your users receive.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup
from stream_or_queue.labs import lab09

env = setup(seed=0)

# %% [markdown]
# ## The spec
#
# Write `research_v2.py` (the next cell writes it next to this notebook: a worker
# process must be able to import it). It is done when:
#
# 1. **Durable.** `research(question)` is a DBOS workflow. The agent is given:
#    `await arun_research(question, progress=..., steps=...)` calls
#    `await steps.astep(name, fn)` for every model turn and tool call and
#    `progress(event)` for every progress event (it may be `async`). A process
#    killed mid-research resumes with no finished turn or tool call paid for again.
# 2. **Observable.** A client can follow the progress: `events(workflow_id,
#    offset=0)` yields the events from `offset` on and ends when the answer is ready,
#    so a client whose connection was cut reattaches where it stopped.
# 3. **Exactly once.** The user gets one notification per answer, through
#    `send_notification(subject=..., body=..., idempotency_key=...)`, with the
#    permalink in the body - even if the process dies right after sending it.
# 4. **A quick front door.** `submit(question)` refuses a bad question with
#    `ValueError`, starts the work under a new unguessable workflow id and returns
#    that id at once: behind a 60 s edge, a request that waits for the research is cut.
# 5. **A permalink.** `permalink(workflow_id)` is the link the notification
#    carries; `answer(workflow_id)` returns the stored answer (`result.as_dict()`),
#    `None` while it runs, and raises `LookupError` for an id that names nothing.
#
# DBOS runs inside this kernel, whose event loop is always running: use DBOS's
# async API (`DBOS.run_step_async`, `DBOS.write_stream_async`,
# `DBOS.start_workflow_async`, `DBOS.read_stream_async`,
# `DBOS.get_workflow_status_async`, ...). Its documentation is at docs.dbos.dev.
# Run the cell again after each change: the checks reload the module.

# %% tags=["nbval-ignore-output", "why:files"]
# %%writefile research_v2.py
"""Research assistant v2 on DBOS: a durable workflow, progress, one notification."""

import secrets

from dbos import DBOS, SetWorkflowID

from stream_or_queue.labs.lab09 import PROGRESS, send_notification
from stream_or_queue.research import check_question
from stream_or_queue.research.agent import arun_research


class DBOSSteps:
    """What `arun_research(steps=...)` calls for every model turn and tool call."""

    async def astep(self, name, fn, *args, **kwargs):
        ### BEGIN SOLUTION
        return await DBOS.run_step_async({"name": name}, fn, *args, **kwargs)
        ### END SOLUTION


def permalink(workflow_id):
    """The link to the answer, as the notification carries it."""
    ### BEGIN SOLUTION
    return f"/r/{workflow_id}"
    ### END SOLUTION


@DBOS.step()
async def notify(workflow_id, question):
    """Tell the user the answer is ready."""
    ### BEGIN SOLUTION
    send_notification(
        subject="Your research answer is ready",
        body=f"Your question: {question}\nRead the answer here: {permalink(workflow_id)}",
        idempotency_key=workflow_id,  # the same on every run of this workflow
    )
    ### END SOLUTION


@DBOS.workflow()
async def research(question):
    """Answer `question` durably; return `result.as_dict()`."""

    ### BEGIN SOLUTION
    async def progress(event):
        await DBOS.write_stream_async(PROGRESS, dict(event))

    result = await arun_research(question, progress=progress, steps=DBOSSteps())
    await notify(DBOS.workflow_id, question)
    await DBOS.close_stream_async(PROGRESS)
    return result.as_dict()
    ### END SOLUTION


async def submit(question):
    """Check the question, start the research, return its workflow id at once."""
    ### BEGIN SOLUTION
    question = check_question(question)
    workflow_id = secrets.token_urlsafe(16)
    with SetWorkflowID(workflow_id):
        await DBOS.start_workflow_async(research, question)
    return workflow_id
    ### END SOLUTION


async def events(workflow_id, offset=0):
    """The progress events from `offset` on; ends when the answer is ready."""
    ### BEGIN SOLUTION
    async for event in DBOS.read_stream_async(workflow_id, PROGRESS, offset=offset):
        yield event
    ### END SOLUTION


async def answer(workflow_id):
    """The stored answer; None while it runs; LookupError for an unknown id."""
    ### BEGIN SOLUTION
    status = await DBOS.get_workflow_status_async(workflow_id)
    if status is None:
        raise LookupError(f"no research named {workflow_id!r}")
    if status.status != "SUCCESS":
        return None
    return await (await DBOS.retrieve_workflow_async(workflow_id)).get_result()
    ### END SOLUTION


# %% [markdown]
# ## Try it
#
# Start DBOS in this kernel (its record in a SQLite file in a temporary folder),
# ask one question and follow it as a client would. The checks below start and
# stop DBOS themselves.

# %% tags=["nbval-ignore-output", "why:ids"]
import asyncio
import tempfile
from pathlib import Path

from stream_or_queue.durable import engine
from stream_or_queue.research import QUESTIONS

research_v2 = lab09.load_module()
await engine.alaunch(f"sqlite:///{Path(tempfile.mkdtemp()) / 'capstone.sqlite'}")
try:
    workflow_id = await research_v2.submit(QUESTIONS[0])
    async for event in research_v2.events(workflow_id):
        print(f"{event['percent']:3.0f}%  {event['step']:9}  {event['message']}")
    print("permalink:", research_v2.permalink(workflow_id))
    while (stored := await research_v2.answer(workflow_id)) is None:
        await asyncio.sleep(0.05)  # the stream ends a moment before the result is stored
    print(stored["answer"][:300], "...")
except NotImplementedError:
    print("Not written yet: complete research_v2.py above, run that cell, then this one.")
finally:
    await lab09.stop_engine()

# %% [markdown]
# ## Check 1: one question, end to end
#
# Two empty questions must be refused; one question runs in this kernel. The
# check reads DBOS's own record: every model turn and tool call should be a step.

# %%
research_v2 = lab09.load_module()
await lab09.check_job(research_v2)

# %% [markdown]
# ## Check 2: `kill -9` in the middle
#
# A worker process imports your module, submits a question and works on it; the
# check kills it with SIGKILL once a few steps are recorded, then launches DBOS
# here under the dead worker's executor id, which recovers its workflow. It
# compares the steps recorded before the kill with the steps that ran after it.

# %%
await lab09.check_crash(research_v2)

# %% [markdown]
# ## Check 3: killed right after the notification left
#
# This time the provider is slow to confirm the notification, and the worker is
# killed while it waits: the message has left, but DBOS has not recorded the step.

# %%
await lab09.check_notifies_once(research_v2)

# %% [markdown]
# ## Check 4: the edge
#
# `submit` goes through the same 60 s edge as the chat box; then a client reads
# the progress events, the edge cuts its connection after three, and it
# reattaches.

# %%
await lab09.check_edge(research_v2)

# %% [markdown]
# ## Where you stand

# %%
lab09.report()

# %% [markdown]
# Compare with the course's version, `stream_or_queue/research/durable.py`: the
# same agent as a DBOS workflow, driven by the web service's jobs, with v3
# (writing through the Batches API) behind the same steps.

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [Lab 08 · Durability](08_durability.ipynb) | [Course index](../README.md#lessons) | [Lab 10 · Choosing a pattern](10_choosing_a_pattern.ipynb) →
#
# **Lesson:** [09a · Research assistant v1: the chat box](../notebooks/09a_research_v1_chat_box.ipynb), [09b · Research assistant v2: the job](../notebooks/09b_research_v2_job.ipynb), [09c · Research assistant v3: batch](../notebooks/09c_research_v3_batch.ipynb), [09d · Research assistant: the results](../notebooks/09d_research_results.ipynb) · **Lab:** [09_capstone](../labs/09_capstone.ipynb)
