# %% [markdown]
# # 09b · Research assistant v2: the job
#
# v1 held a one-minute agent inside one request, and the edge, the users and every
# deploy took turns killing it. v2 keeps the agent exactly as it is and changes
# where it runs: the question becomes a background job. The user gets "we're
# working on it" at once, can watch progress or leave, is notified when the
# answer is ready and reads it at a permalink. Every step is checkpointed, so a
# crash or a deploy in the middle costs one step, not the whole question.

# %% [markdown]
# ## What you will learn
#
# - Submit the question as an RQ job and answer at once; follow its progress
#   events; get one notification; read the answer and its sources at a permalink.
# - Checkpoint every model turn and tool call with `durable.DurableRun`, then kill
#   the worker in the middle and watch the job resume without redoing a step.
# - Deploy new workers with twelve questions in flight and lose nothing.
# - Drive the course's web service (issue 7's page and API) end to end.
# - Measure v2 on the same sixty questions and users as v1.
# - Run the same agent as a DBOS workflow: its steps in the engine's record, and a
#   request submitted twice that runs and notifies once.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

# %% [markdown]
# ## 1. Submit: "we're working on it"
#
# `research.job.enqueue_research` checks the question, enqueues `research_job`
# (an importable function: RQ refuses functions defined in a notebook) with
# `Retry(max=3)`, and returns. That is all a web handler has to do before it
# answers `202 Accepted` with the job id.

# %%
import time

from stream_or_queue.durable import WorkerFleet, wait_until
from stream_or_queue.jobs import get_progress, progress_history
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.job import RESEARCH_QUEUE, enqueue_research

start = time.perf_counter()
job = enqueue_research(QUESTIONS[0])
print(
    f"job {job.id} is {job.get_status().value}; submitting took "
    f"{(time.perf_counter() - start) * 1000:.1f} ms"
)

# %% [markdown]
# Nothing runs it yet. Start two workers (threads of this kernel on fakeredis,
# real `rq worker` processes when `REDIS_URL` is set) and let the job run. Its
# progress goes to the job's meta in Redis, where a page, a widget or another
# process can read it:

# %%
fleet = WorkerFleet(2, [RESEARCH_QUEUE]).start()
wait_until(lambda: job.get_status(refresh=True).value == "finished", 60)
for percent, step in progress_history(job):
    print(f"{percent:5.0f}%  {step}")

# %% [markdown]
# ## 2. Notification and permalink
#
# When the answer is ready the job sends one notification (here to a Redis
# inbox, as an email would land in one) with a permanent link. The link shows the
# stored result; it does not run anything again.

# %%
from stream_or_queue.jobs import Inbox
from stream_or_queue.research.job import INBOX

for message in Inbox(INBOX).list():
    print(message.subject)
    print(message.body)

# %%
answer = job.return_value()
print(answer["answer"])
print()
for source in answer["sources"]:
    print(f"[{source['id']}] {source['title']}")
print(
    f"\n{len(answer['tool_calls'])} tool calls, ${answer['cost_usd']:.4f}, attempt "
    f"{answer['attempt']}"
)

# %% [markdown]
# ## 3. A crash in the middle
#
# `research_job` runs the agent inside `DurableRun.current()`: each model turn and
# each tool call is a named step (`turn-0`, `tool-0`, `turn-1`, ...) whose result is
# stored in Redis the moment it finishes. Kill the worker while the job is taking
# notes - a crashed machine - and hand the job back to RQ, which runs it again on
# the other worker:

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.durable import audit_trail, summarize, timeline

crashed = enqueue_research(QUESTIONS[3])
wait_until(lambda: (p := get_progress(crashed)) is not None and p.step == "notes", 60)
victim = fleet.busy_worker(crashed.id)
fleet.kill(victim)
wait_until(lambda: crashed.id in fleet.recover(), 30)
fleet.start()
wait_until(lambda: crashed.get_status(refresh=True).value == "finished", 60)

resumed = crashed.return_value()
summary = summarize(audit_trail(crashed.id))
print(f"attempts: {summary.attempts}")
print(f"replayed from checkpoints: {resumed['replayed_steps']}")
print(f"run on the second attempt:  {resumed['executed_steps']}")
print(
    f"finished steps run again: {summary.finished_steps_reexecuted}; "
    f"interrupted step run again: {summary.interrupted_steps}"
)
ax = timeline(audit_trail(crashed.id))
assert summary.finished_steps_reexecuted == 0 and summary.attempts == 2
assert sum(m.job_id == crashed.id for m in Inbox(INBOX).list()) == 1

# %% [markdown]
# Only the step the worker died in ran twice - it had not finished, so there was
# nothing to keep. One notification, even though the job ran twice: it is sent
# with `run.once(...)` and an idempotency key.
#
# ## 4. A deploy with work in flight
#
# A release replaces every worker. They get a grace period to finish their job;
# research jobs are longer than that, so the old workers are stopped in the
# middle - twelve questions, 30 s in - and the new workers resume them:

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.research.compare import deploy_jobs

fleet.stop(grace_s=10)
deployed = deploy_jobs(QUESTIONS[:12], "v2", at_s=30.0)
print(
    f"in flight: {deployed.in_flight}, answered: {deployed.answered}, "
    f"finished steps redone: {deployed.finished_steps_redone}, "
    f"steps cut and rerun: {deployed.interrupted_steps}"
)
assert deployed.answered == deployed.questions and deployed.finished_steps_redone == 0

# %% [markdown]
# ## 5. The web page serves it end to end
#
# The course's web service (`stream_or_queue.web`, notebook 06) runs this very
# assistant as its job: `POST /jobs` answers `202` with a `Location`,
# `GET /jobs/{id}/events` streams structured progress events, and `/r/{id}` is the
# permalink page. Start it in the background and drive it like a browser would:

# %%
import httpx2

from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.clients import follow_events

web = serve_in_thread(create_app())
with httpx2.Client(base_url=web.url, timeout=30) as browser:
    posted = browser.post("/jobs", json={"question": QUESTIONS[8]})
    job_id = posted.json()["id"]
    print(
        posted.status_code,
        "Location points at the job:",
        posted.headers["location"] == f"/jobs/{job_id}",
    )
    log = follow_events(browser, job_id)  # reattaches with Last-Event-ID if the edge cuts it
    page = browser.get(f"/r/{job_id}").text
    view = browser.get(f"/jobs/{job_id}").json()
print("progress events:", " -> ".join(dict.fromkeys(log.steps)))
print("status:", view["status"])
print(
    "sources on the permalink page:",
    [s["title"] for s in view["result"]["sources"] if s["title"] in page],
)

# %% [markdown]
# The service keeps running while this notebook is open (it stops with the kernel),
# so the permalink below is live: open it in a new browser tab on your own machine
# (in Binder, run `python -m stream_or_queue.web --port 8000` in a terminal and open
# that port through your environment's proxy).

# %% tags=["nbval-ignore-output", "why:ids"]
print(f"the answer's permalink, live while this notebook runs: {web.url}/r/{job_id}")

# %% tags=["nbval-ignore-output", "why:timing"]
print(
    f"the event stream took {log.connections} connection(s): the edge cuts a stream open "
    "for more than 60 s too, and the client picks up where it left off"
)
assert log.status == "finished"

# %% [markdown]
# ## 6. v2 on the sixty questions
#
# The same sixty questions and the same sixty users as v1, through the same 60 s
# edge. Each user watches the "we're working on it" page while their patience
# lasts, then leaves; the job carries on, and the notification brings back the
# share of users the model says it does (`config.NOTIFICATION_RETURN_RATE`).

# %% [markdown]
# **Predict first.** Before you run the next cell, pick an answer; the cell after
# the measurement puts it beside what was measured (the quick check at the end
# asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("09b_research_v2_job", only=["v2-cut-share"])

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.research.compare import measure_jobs, summarize_runs

v2 = summarize_runs(measure_jobs(QUESTIONS, "v2"))
print(f"cut by the edge:         {v2.timeout_rate:5.0%}")
print(f"answer reached the user: {v2.completion_rate:5.0%}")
print(f"user never came back:    {v2.abandonment_rate:5.0%}")
print(f"median time to answer:   {v2.median_time_to_answer_s:5.0f} s (simulated)")
print(f"cost per question:       ${v2.cost_per_question_usd:.4f}")
assert v2.timeout_rate == 0 and v2.completion_rate > 0.6


# %%
Quiz.compare(
    "09b_research_v2_job", "v2-cut-share", f"the edge cut {v2.timeout_rate:.0%} of v2's requests"
)

# %% [markdown]
# ## 7. The same job on a durable engine: DBOS
#
# Above, the checkpoints are the course's own (`durable.DurableRun` on Redis), so
# that you can see them. `research.durable` runs the same agent as a DBOS workflow:
# each model turn and tool call is a DBOS step recorded in its SQLite file, progress
# events go to the workflow's stream, and the notification carries the workflow id
# as its idempotency key. The workflow id is the request's id, so a second submit of
# the same request attaches to the same workflow instead of running it again. (DBOS's
# blocking calls refuse to run on a notebook's event loop, hence `asyncio.to_thread`.)

# %%
import asyncio
import tempfile
from pathlib import Path

from dbos import DBOS

from stream_or_queue.durable import engine
from stream_or_queue.jobs import Inbox
from stream_or_queue.research import durable as research_dbos

await engine.alaunch(f"sqlite:///{Path(tempfile.mkdtemp()) / 'dbos.sqlite'}")


def ask_twice(question, request_id):
    first = research_dbos.start_research(question, workflow_id=request_id)
    research_dbos.start_research(question, workflow_id=request_id)  # the user clicks again
    answer = first.get_result()
    names = [s["function_name"] for s in DBOS.list_workflow_steps(request_id)]
    return answer, names, list(research_dbos.progress_events(request_id))


answer, names, events = await asyncio.to_thread(ask_twice, QUESTIONS[1], "request-2")
notes = [m for m in Inbox("research").list() if m.job_id == "request-2"]
print(
    f"steps recorded: {sum(n.startswith('turn-') for n in names)} model turns, "
    f"{sum(n.startswith('tool-') for n in names)} tool calls, "
    f"{names.count('research.notify')} notification"
)
print(f"progress events: {len(events)}, from {events[0]['step']!r} to {events[-1]['step']!r}")
print(f"notifications in the inbox for this request: {len(notes)}; permalink {answer['permalink']}")
await asyncio.to_thread(engine.shutdown)

# %% [markdown]
# A worker process killed in the middle of such a workflow resumes it without
# paying for a recorded step again (notebook 08 shows it with `kill -9`; the
# library's tests do it to this workflow). v3's batch submit is
# two steps - record the newest batch, then find-or-create - so a crash between
# creating the batch and recording its id cannot pay for a second batch.

# %% [markdown]
# ## Summary
#
# - The agent did not change; where it runs did. Submitting takes milliseconds, so
#   no request lives long enough for the edge to cut it: 0 timeouts.
# - Progress events tell the user what is happening; a notification with a
#   permalink lets them leave and come back - completion rises because the answer
#   waits for the user instead of the user waiting for the answer.
# - Checkpointed steps turn a crash or a deploy into one repeated step: no
#   finished step runs twice, nothing is lost, one notification is sent.
# - On a durable engine (DBOS) the same agent needs no checkpoint code of its own:
#   the engine records each step, and the workflow id makes a repeated request
#   attach to the running one.
# - v2 still pays the live price for every call - 09c moves what can wait to the
#   Batches API.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("09b_research_v2_job")

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
# ← [09a · Research assistant v1: the chat box](09a_research_v1_chat_box.ipynb) | [Course index](../README.md#lessons) | [09c · Research assistant v3: batch](09c_research_v3_batch.ipynb) →
#
# **Lab:** [Lab 09 · Capstone: the research assistant](../labs/09_capstone.ipynb) · [solution](../solutions/09_capstone.ipynb)
