"""Builds the worked example: notebooks 09a-09d and solutions/09_capstone.ipynb.

Run it, then execute them with `scripts/build_course.py --execute 09`.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from cells import TIMING, code, md, write_notebook

ROOT = Path(__file__).resolve().parents[2]
FILES = ["nbval-ignore-output", "why:files"]


def ending(slug: str, summary: str, lab_text: str) -> list[nbformat.NotebookNode]:
    return [
        md("## Summary\n\n" + summary.strip()),
        md("## Quick check"),
        code(f'from stream_or_queue.widgets import Quiz\nQuiz.for_notebook("{slug}")'),
        md("## Lab\n\n" + lab_text.strip() + "\n([solution](../solutions/09_capstone.ipynb))"),
        md("", tags=["nav"]),
    ]


LAB_TEXT = """
[Capstone lab](../labs/09_capstone.ipynb): rebuild v2 from v1 yourself - a job
module with `submit` and a durable `research_job` - and let the checks crash a
worker under it, send it through the 60 s edge and print the results table.
"""

# --- 09a ---------------------------------------------------------------------------------

V1 = [
    md("""
# 09a · Research assistant v1: the chat box

The course's worked example is a research assistant: type a question, get four
paragraphs with citations. Behind it an agent searches a library, reads what it
found, takes notes and writes - five to eight tool calls and a minute or two of
work. The instinctive design is a chat box: one streaming request that stays
open while the agent works. This notebook builds exactly that, puts it behind
a 60-second edge and lets sixty simulated users use it. Everything that goes
wrong is measured, so that 09b-09d can measure the fix against it.
"""),
    md("""
## What you will learn

- How the assistant works: a corpus, three tools, and an agent loop on the SDK's
  tool use, every step taking simulated time.
- What a 60 s edge does to a chat box whose answers take about a minute: the
  timeout rate over 60 questions.
- What users add: a stated, seeded patience model, abandonment, and the answers
  that reach nobody.
- What a failure costs: tool calls and tokens paid for and thrown away, at the
  live price, and what a deploy does to every conversation in flight.
"""),
    md("## Setup"),
    code("""
from stream_or_queue.course import setup

env = setup(seed=0)
"""),
    md("""
## 1. The assistant: a library, three tools, a loop

`stream_or_queue.research` bundles a few dozen short notes written for the course
(ids `doc-1` ... `doc-36`) and three tools over them: `search`, `read_document`
and `take_notes`. Each tool call takes simulated time - a search service
answering, a page loading - so that a question lasts as long as a real agent's.
"""),
    code("""
from stream_or_queue.research import CORPUS, QUESTIONS, TOOLS, search

print(f"{len(CORPUS)} documents, {len(QUESTIONS)} questions, tools: {[t['name'] for t in TOOLS]}")
for hit in search("edge timeout load balancer"):
    print(f"  {hit.document.id:7} {hit.score:5.2f}  {hit.document.title}")
"""),
    md("""
The agent loop is the textbook one: send the question with the tool
definitions; when the model answers with `tool_use` blocks, run the tools and
send their results back; stop when it answers with text. `run_research` does
that and reports structured progress events as it goes. (Offline, the
simulated model plans 5-8 tool calls and cites the documents it was shown.)
"""),
    code("""
from stream_or_queue.research import run_research

result = run_research(QUESTIONS[0], progress=lambda e: print(f"  {e['percent']:3}% {e['step']:9} {e['message']}"))
print()
for call in result.tool_calls:
    print(f"  {call.name:13} {call.duration_s:5.1f} s (simulated)  {list(call.input.values())[0][:50]}")
print(f"\\n{len(result.tool_calls)} tool calls, {len(result.usage)} model calls, "
      f"{result.input_tokens:,} input + {result.output_tokens:,} output tokens, ${result.cost_usd:.4f}")
"""),
    code("""
print(result.answer)
print()
for source in result.sources:
    print(f"[{source.id}] {source.title}")
"""),
    code(
        """
print(f"the question took {result.duration_s:.0f} s (simulated), "
      f"{sum(c.duration_s for c in result.tool_calls):.0f} s of it in tools")
assert 30 < result.duration_s < 150
""",
        tags=TIMING,
    ),
    md("""
## 2. v1: the chat box behind a 60 s edge

In v1 the browser posts the question and the server runs the whole loop inside
that request, streaming progress and the answer's tokens back. In production a
load balancer, CDN or function platform sits in front and ends any request
still open after its limit (`config.EDGE_TIMEOUTS_S`); 60 s is common.

`research.compare.measure_chat` runs that for real: a FastAPI app behind the web
service's `EdgeTimeout` middleware, served by uvicorn on loopback, and one
streaming HTTP client per question - all sixty at once, arriving a quarter of a
second apart. `measure_v1` runs it twice, side by side: with users who never give
up, so that only the edge can end a request, and with the real users of
section 3. (Sixty agents need real CPU time, so each run has a core of its own -
the patient one in a second process - and slows the clock to
`config.RESEARCH_CHAT_TIME_SCALE`; the figures stay in simulated seconds.)
"""),
    code(
        """
from stream_or_queue.research.compare import measure_v1, summarize_runs
from stream_or_queue.research.plots import duration_histogram

edge_only, chat = measure_v1(QUESTIONS)
edge = summarize_runs(edge_only)
print(f"cut by the edge: {edge.timeout_rate:.0%} of {edge.questions} questions; "
      f"answered: {edge.completion_rate:.0%}")
ax = duration_histogram(edge_only)
assert 0.25 <= edge.timeout_rate <= 0.85
""",
        tags=TIMING,
    ),
    md("""
About half of the requests are still working when the edge cuts them: the
answers that needed 60 s or more never arrive, whatever the agent had done by
then. (The article reports the same: a 60 s limit killed half the requests. Both
of its figures - "60-120 s" and "half" - can only be true if about half the
questions finish just under a minute, which is how the simulated agent behaves:
from about 40 s to about 2 minutes, with a median near 60 s.)

## 3. Real users close the tab

People do not wait forever. The course states its user model instead of
pretending to measure one: each user's patience is drawn from a log-normal
distribution (`config.USER_PATIENCE_MEDIAN_S`, `config.USER_PATIENCE_SPREAD`),
seeded, so that v1, v2 and v3 meet the same sixty people. They are the users of
the second run above.
"""),
    code("""
import statistics

from stream_or_queue import config
from stream_or_queue.research.users import users

people = users(len(QUESTIONS), seed=0)
waits = sorted(u.patience_s for u in people)
print(f"patience: median {statistics.median(waits):.0f} s, shortest {waits[0]:.0f} s, "
      f"longest {waits[-1]:.0f} s (model: median {config.USER_PATIENCE_MEDIAN_S:.0f} s)")
print(f"{sum(w < config.DEFAULT_EDGE_TIMEOUT_S for w in waits)} of {len(waits)} give up "
      "before the edge would")
"""),
    code(
        """
v1 = summarize_runs(chat)
print(f"answer reached the user: {v1.completion_rate:5.0%}")
print(f"cut by the edge:         {v1.timeout_rate:5.0%}")
print(f"user closed the tab:     {v1.abandonment_rate:5.0%}")
ax = duration_histogram(chat)
assert v1.completion_rate < 0.75 and v1.timeout_rate + v1.abandonment_rate > 0.25
""",
        tags=TIMING,
    ),
    md("""
Closing the tab ends the request, and the server stops the agent at once - which
saves the rest of the bill, and throws away everything already done.

## 4. What a failure throws away, and what it costs

Every cut or abandoned request paid for its model calls (input and output
tokens, including the tokens a cancelled stream had generated) and ran its tool
calls. None of it reached anyone, and asking again starts from scratch. All of
it is billed at the live price.
"""),
    code(
        """
lost = [r for r in chat if not r.delivered]
print(f"questions that failed: {len(lost)}")
print(f"tool calls done and thrown away: {v1.lost_tool_calls}")
print(f"tokens paid for and thrown away: {sum(r.input_tokens + r.output_tokens for r in lost):,}")
print(f"money spent on nothing: ${v1.lost_cost_usd:.2f} of ${v1.cost_per_question_usd * v1.questions:.2f}")
print(f"cost per question asked: ${v1.cost_per_question_usd:.4f}; "
      f"per answer delivered: ${v1.cost_per_answer_usd:.4f}")
assert v1.lost_tool_calls > 0 and v1.cost_per_answer_usd > v1.cost_per_question_usd
""",
        tags=TIMING,
    ),
    md("""
## 5. A deploy

Shipping a new version of the web app replaces its processes. Every chat request
in flight dies with them - here twelve users, 30 s into their questions:
"""),
    code(
        """
from stream_or_queue.research.compare import deploy_chat

deployed = deploy_chat(QUESTIONS[:12], at_s=30.0)
print(f"in flight: {deployed.in_flight}, answered anyway: {deployed.answered}, "
      f"tool calls lost: {deployed.tool_calls_lost}, money lost: ${deployed.cost_lost_usd:.3f}")
assert deployed.answered == 0 and deployed.tool_calls_lost > 0
""",
        tags=TIMING,
    ),
    *ending(
        "09a_research_v1_chat_box",
        """
- The research assistant is an agent loop: 5-8 tool calls, each a model turn plus
  a tool's own time, about a minute per question.
- Held open in a chat box behind a 60 s edge, about half of the questions are cut
  before their answer; with the (stated) user model, more users leave first, and
  only a minority of questions end with an answer on the screen.
- Every failure throws away the tool calls and tokens already paid for, at the
  live price; a deploy kills every conversation in flight.
- Nothing here is a bug in the agent. The chat box was the wrong shape for a
  one-minute task - 09b gives it the right one.
""",
        LAB_TEXT,
    ),
]

# --- 09b ---------------------------------------------------------------------------------

V2 = [
    md("""
# 09b · Research assistant v2: the job

v1 held a one-minute agent inside one request, and the edge, the users and every
deploy took turns killing it. v2 keeps the agent exactly as it is and changes
where it runs: the question becomes a background job. The user gets "we're
working on it" at once, can watch progress or leave, is notified when the
answer is ready and reads it at a permalink. Every step is checkpointed, so a
crash or a deploy in the middle costs one step, not the whole question.
"""),
    md("""
## What you will learn

- Submit the question as an RQ job and answer at once; follow its progress
  events; get one notification; read the answer and its sources at a permalink.
- Checkpoint every model turn and tool call with `durable.DurableRun`, then kill
  the worker in the middle and watch the job resume without redoing a step.
- Deploy new workers with twelve questions in flight and lose nothing.
- Drive the course's web service (issue 7's page and API) end to end.
- Measure v2 on the same sixty questions and users as v1.
"""),
    md("## Setup"),
    code("""
from stream_or_queue.course import setup

env = setup(seed=0)
"""),
    md("""
## 1. Submit: "we're working on it"

`research.job.enqueue_research` checks the question, enqueues `research_job`
(an importable function: RQ refuses functions defined in a notebook) with
`Retry(max=3)`, and returns. That is all a web handler has to do before it
answers `202 Accepted` with the job id.
"""),
    code("""
import time

from stream_or_queue.durable import WorkerFleet, wait_until
from stream_or_queue.jobs import get_progress, progress_history
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.job import RESEARCH_QUEUE, enqueue_research

start = time.perf_counter()
job = enqueue_research(QUESTIONS[0])
print(f"job {job.id} is {job.get_status().value}; submitting took "
      f"{(time.perf_counter() - start) * 1000:.1f} ms")
"""),
    md("""
Nothing runs it yet. Start two workers (threads of this kernel on fakeredis,
real `rq worker` processes when `REDIS_URL` is set) and let the job run. Its
progress goes to the job's meta in Redis, where a page, a widget or another
process can read it:
"""),
    code("""
fleet = WorkerFleet(2, [RESEARCH_QUEUE]).start()
wait_until(lambda: job.get_status(refresh=True).value == "finished", 60)
for percent, step in progress_history(job):
    print(f"{percent:5.0f}%  {step}")
"""),
    md("""
## 2. Notification and permalink

When the answer is ready the job sends one notification (here to a Redis
inbox, as an email would land in one) with a permanent link. The link shows the
stored result; it does not run anything again.
"""),
    code("""
from stream_or_queue.jobs import Inbox
from stream_or_queue.research.job import INBOX

for message in Inbox(INBOX).list():
    print(message.subject)
    print(message.body)
"""),
    code("""
answer = job.return_value()
print(answer["answer"])
print()
for source in answer["sources"]:
    print(f"[{source['id']}] {source['title']}")
print(f"\\n{len(answer['tool_calls'])} tool calls, ${answer['cost_usd']:.4f}, attempt {answer['attempt']}")
"""),
    md("""
## 3. A crash in the middle

`research_job` runs the agent inside `DurableRun.current()`: each model turn and
each tool call is a named step (`turn-0`, `tool-0`, `turn-1`, ...) whose result is
stored in Redis the moment it finishes. Kill the worker while the job is taking
notes - a crashed machine - and hand the job back to RQ, which runs it again on
the other worker:
"""),
    code(
        """
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
print(f"finished steps run again: {summary.finished_steps_reexecuted}; "
      f"interrupted step run again: {summary.interrupted_steps}")
ax = timeline(audit_trail(crashed.id))
assert summary.finished_steps_reexecuted == 0 and summary.attempts == 2
assert sum(m.job_id == crashed.id for m in Inbox(INBOX).list()) == 1
""",
        tags=TIMING,
    ),
    md("""
Only the step the worker died in ran twice - it had not finished, so there was
nothing to keep. One notification, even though the job ran twice: it is sent
with `run.once(...)` and an idempotency key.

## 4. A deploy with work in flight

A release replaces every worker. They get a grace period to finish their job;
research jobs are longer than that, so the old workers are stopped in the
middle - twelve questions, 30 s in - and the new workers resume them:
"""),
    code(
        """
from stream_or_queue.research.compare import deploy_jobs

fleet.stop(grace_s=10)
deployed = deploy_jobs(QUESTIONS[:12], "v2", at_s=30.0)
print(f"in flight: {deployed.in_flight}, answered: {deployed.answered}, "
      f"finished steps redone: {deployed.finished_steps_redone}, "
      f"steps cut and rerun: {deployed.interrupted_steps}")
assert deployed.answered == deployed.questions and deployed.finished_steps_redone == 0
""",
        tags=TIMING,
    ),
    md("""
## 5. The web page serves it end to end

The course's web service (`stream_or_queue.web`, notebook 06) runs this very
assistant as its job: `POST /jobs` answers `202` with a `Location`,
`GET /jobs/{id}/events` streams structured progress events, and `/r/{id}` is the
permalink page. Start it in the background and drive it like a browser would:
"""),
    code("""
import httpx2

from stream_or_queue.web import create_app, serve_in_thread
from stream_or_queue.web.clients import follow_events

web = serve_in_thread(create_app())
with httpx2.Client(base_url=web.url, timeout=30) as browser:
    posted = browser.post("/jobs", json={"question": QUESTIONS[8]})
    job_id = posted.json()["id"]
    print(posted.status_code, "Location points at the job:", posted.headers["location"] == f"/jobs/{job_id}")
    log = follow_events(browser, job_id)  # reattaches with Last-Event-ID if the edge cuts it
    page = browser.get(f"/r/{job_id}").text
    view = browser.get(f"/jobs/{job_id}").json()
web.stop()
print("progress events:", " -> ".join(dict.fromkeys(log.steps)))
print("status:", view["status"])
print("sources on the permalink page:",
      [s["title"] for s in view["result"]["sources"] if s["title"] in page])
"""),
    code(
        """
print(f"the event stream took {log.connections} connection(s): the edge cuts a stream open "
      "for more than 60 s too, and the client picks up where it left off")
assert log.status == "finished"
""",
        tags=TIMING,
    ),
    md("""
## 6. v2 on the sixty questions

The same sixty questions and the same sixty users as v1, through the same 60 s
edge. Each user watches the "we're working on it" page while their patience
lasts, then leaves; the job carries on, and the notification brings back the
share of users the model says it does (`config.NOTIFICATION_RETURN_RATE`).
"""),
    code(
        """
from stream_or_queue.research.compare import measure_jobs, summarize_runs

v2 = summarize_runs(measure_jobs(QUESTIONS, "v2"))
print(f"cut by the edge:         {v2.timeout_rate:5.0%}")
print(f"answer reached the user: {v2.completion_rate:5.0%}")
print(f"user never came back:    {v2.abandonment_rate:5.0%}")
print(f"median time to answer:   {v2.median_time_to_answer_s:5.0f} s (simulated)")
print(f"cost per question:       ${v2.cost_per_question_usd:.4f}")
assert v2.timeout_rate == 0 and v2.completion_rate > 0.6
""",
        tags=TIMING,
    ),
    *ending(
        "09b_research_v2_job",
        """
- The agent did not change; where it runs did. Submitting takes milliseconds, so
  no request lives long enough for the edge to cut it: 0 timeouts.
- Progress events tell the user what is happening; a notification with a
  permalink lets them leave and come back - completion rises because the answer
  waits for the user instead of the user waiting for the answer.
- Checkpointed steps turn a crash or a deploy into one repeated step: no
  finished step runs twice, nothing is lost, one notification is sent.
- v2 still pays the live price for every call - 09c moves what can wait to the
  Batches API.
""",
        LAB_TEXT,
    ),
]

# --- 09c ---------------------------------------------------------------------------------

V3 = [
    md("""
# 09c · Research assistant v3: batch where it can wait

Once the research is a job, nobody watches it being typed - and work that
nobody watches can wait for the Message Batches API, at half the price. This
notebook finds the parts that can wait, measures what each change saves, and
serves the result from the course's web page; 09d then puts v1, v2 and v3 side
by side.
"""),
    md("""
## What you will learn

- Which parts of an agent can wait for a batch (writing the answer, digesting
  documents) and which cannot (the tool-use turns, which need each answer to
  choose the next step).
- Write the answer through the Batches API and gather on a smaller model where
  quality allows; measure each lever on its own.
- Serve v3 from the same web page and permalink as v2, by switching one setting.
"""),
    md("## Setup"),
    code("""
from stream_or_queue.course import setup

env = setup(seed=0)
"""),
    md("""
## 1. What can wait

An agent's tool-use turns cannot go through a batch: each needs its answer to
choose the next tool, and a batch may take minutes (up to 24 hours) per round.
Two parts can:

- **writing the answer**: once the material is gathered, the four paragraphs can
  be written by a one-request batch - the user gets an email either way;
- **digesting the library**: a short summary of every document, made ahead of
  time by a nightly batch on the small model, so the agent reads digests.

`research.batched.run_research_v3` gathers live (on the small model, told to
reply DONE instead of writing) and sends the writing to the Batches API on the
large model. One question:
"""),
    code("""
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.batched import run_research_v3

v3_one = run_research_v3(QUESTIONS[0])
for use in v3_one.usage:
    tier = "batch" if use.batch else "live"
    print(f"  {use.kind:5} {use.model:18} {tier:5} {use.input_tokens:5} in {use.output_tokens:4} out  ${use.cost_usd:.5f}")
print(f"total ${v3_one.cost_usd:.4f} for {len(v3_one.tool_calls)} tool calls and {v3_one.paragraphs} paragraphs citing {[s.id for s in v3_one.sources]}")
"""),
    code(
        """
print(f"time to answer: {v3_one.duration_s:.0f} s (simulated) - the batch takes minutes, "
      "which nobody watches")
assert v3_one.duration_s > 100
""",
        tags=TIMING,
    ),
    md("""
## 2. Where the saving comes from

Prices do not depend on time, so the levers can be priced one at a time on the
same twenty questions (at time scale 0, batches end at once). The nightly
digests are shared by every question; their batch's cost is spread over them.
"""),
    code("""
from stream_or_queue.research.compare import cost_levers
from stream_or_queue.research.plots import levers_chart

levers = cost_levers(QUESTIONS[:20])
for lever in levers:
    change = lever.cost_per_question_usd / levers[0].cost_per_question_usd - 1
    print(f"  ${lever.cost_per_question_usd:.4f}  {change:+5.0%} vs v2   {lever.name}")
ax = levers_chart(levers)
"""),
    md("""
Read it honestly:

- **Writing through the batch** halves the price of the biggest single call. On
  its own it would not pay here: splitting the writing off costs one more live
  turn (the model's "DONE"), which eats most of the discount. It pays once the
  writer is a separate call anyway - which it is as soon as a smaller model
  gathers.
- **The smaller model for gathering** (choosing searches and documents) is the
  biggest lever. The simulator cannot judge quality; the course's checks - four
  paragraphs, every citation a document the tools returned - pass for both
  models. Live, run an evaluation before you switch.
- **Digests** do not pay with these short notes: a digest is nearly as long as
  the note. With real documents of thousands of tokens they would.

So v3 is "gather on the small model, write through the Batches API", without
digests. Its answers take minutes, which nobody watches: that is the trade.
"""),
    md("""
## 3. The web page serves v3 too

The course's web service runs `research.job.run_research` as its job body, which
picks the version from `SOQ_RESEARCH_VERSION` (v2 unless set). Switch it to v3 and
ask through the API, as the page does:
"""),
    code("""
import os

import httpx2

from stream_or_queue.research.job import VERSION_ENV
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
print("writing:", [(u["model"], "batch" if u["batch"] else "live") for u in result["usage"] if u["kind"] == "write"])
print("steps seen:", " -> ".join(dict.fromkeys(log.steps)))
print("sources on the permalink page:", [s["title"] for s in result["sources"] if s["title"] in page])
"""),
    *ending(
        "09c_research_v3_batch",
        """
- The tool-use turns need answers now; the writing and any digesting can wait.
  v3 gathers on the small model and writes through the Batches API.
- Measured lever by lever, most of the saving comes from the smaller model for
  gathering, which only a job can split from the writing; the batch halves the
  writing; digests do not pay on short documents.
- A v3 answer takes minutes instead of about one: fine for a job that ends in a
  notification and a permalink, which the web page serves for v3 as for v2.
- 09d measures what all of this buys, against the article's claims.
""",
        LAB_TEXT,
    ),
]

# --- 09d ---------------------------------------------------------------------------------

RESULTS = [
    md("""
# 09d · Research assistant: the results

09a built the chat box and watched it fail, 09b rebuilt it as a job, 09c moved
what can wait to the Batches API. This notebook measures all three versions on
the same questions and the same users, through the same edge and the same
deploy, and puts each figure next to the claim of the article that started this
course.
"""),
    md("""
## What you will learn

- Build the results table - timeouts, cost per question, completion, work lost
  in a deploy - from runs, not from constants.
- Check each of the article's claims against it, and see which figures depend
  on the stated user model and which do not.
- Read the trade v3 makes: cheaper answers that arrive later.
"""),
    md("## Setup"),
    code("""
from stream_or_queue.course import setup

env = setup(seed=0)
"""),
    md("""
## 1. The results table

All three versions on the same questions and the same users, through the same
60 s edge, plus a deploy with twelve questions in flight for each. To keep the
notebook to seconds, it measures every other question of the sixty (thirty
agents per version, v1's in a second process so that each measurement has a
core); `scripts/bench_research.py` runs all sixty and
[docs/performance.md](../docs/performance.md) records its figures.
"""),
    code(
        """
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.compare import compare

comparison = compare(QUESTIONS[::2])
print(f"{'':36}{'v1':>9}{'v2':>9}{'v3':>9}   claim")
for row in comparison.rows:
    mark = "holds" if row.holds else "DOES NOT HOLD"
    print(f"{row.metric:36}{row.v1:>9}{row.v2:>9}{row.v3:>9}   {row.claim} [{mark}]")
assert comparison.summaries["v2"].timeout_rate == comparison.summaries["v3"].timeout_rate == 0
assert all(row.holds for row in comparison.rows[1:])
""",
        tags=TIMING,
    ),
    code(
        """
import matplotlib.pyplot as plt

from stream_or_queue.research.plots import cost_bars, outcome_bars

summaries = [comparison.summaries[v] for v in ("v1", "v2", "v3")]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
outcome_bars(summaries, ax=left)
cost_bars(summaries, ax=right)
for s in summaries:
    print(f"{s.version}: cut {s.timeout_rate:.0%}, left {s.abandonment_rate:.0%}, "
          f"answered {s.completion_rate:.0%}, ${s.cost_per_question_usd:.4f} per question, "
          f"${s.cost_per_answer_usd:.4f} per answer")
""",
        tags=TIMING,
    ),
    md("""
Each claim of the article, measured:

- **0% timeout failures.** With users who never give up, about half of v1's
  requests run into the edge (the row's v1 figure); with real users, some
  leave first (the bars). v2's and v3's requests never do - the only requests
  they make are a submit and a few status checks.
- **Cheaper.** v3 costs well over 30% less per question than v1, although v1
  stops paying the moment a request is cut. Per answer *delivered* the gap is
  far larger, because v1 pays for so many answers nobody receives.
- **Higher completion.** v1 answers only the questions that are both quick and
  asked by patient users. v2 and v3 finish every question; the notification
  brings back most of the users who left. v3 tends to deliver a little less
  than v2 - its batch makes answers take minutes, so more users leave before it
  is done.
- **Deploys don't kill research.** A deploy loses every v1 conversation in
  flight; v2 and v3 redo no finished step.

The rates differ a little from 09a's and 09b's, which measured all sixty
questions: thirty questions move a rate in steps of about 3%.

The figures rest on the stated user model. Change `config.USER_PATIENCE_MEDIAN_S`
or `config.NOTIFICATION_RETURN_RATE` and rerun: the edge's timeout rate and the
jobs' costs do not move with it; the completion rates do, and so does what v1
spends, since its requests end when their users leave.
"""),
    code(
        """
v3_runs = comparison.runs["v3"]
finished = [r for r in v3_runs if r.finished]
print(f"v3 finished {len(finished)} of {len(v3_runs)} questions")
assert len(finished) == len(v3_runs)
""",
        tags=TIMING,
    ),
    *ending(
        "09d_research_results",
        """
- On the same questions and users: v1 is cut by the edge or abandoned for most
  questions; v2 and v3 have 0% timeouts, deliver far more answers, survive
  deploys, and v3 costs well over 30% less per question than v1.
- The edge's timeouts and the jobs' costs do not depend on the user model;
  completion rates (and v1's spend) do.
- The product is not worse for the user - a notification and a permalink
  instead of a spinner. The chat box was the bug.
""",
        LAB_TEXT,
    ),
]

# --- the capstone lab (solution) -------------------------------------------------------------------

CAPSTONE = [
    md("""
# Capstone lab · The research assistant

You have seen v1 fail and v2 fix it. Now build v2 yourself: a job module with
`submit` and `research_job`, on real RQ workers. The checks run your job,
crash a worker in the middle of it, send it through the same 60 s edge as the
chat box, and print the results table.
"""),
    md("## Setup"),
    code("""
from stream_or_queue.course import setup
from stream_or_queue.labs import lab09

env = setup(seed=0)
"""),
    md("""
## The starting point: v1

The chat box holds the whole agent inside one request. Three questions through
the 60 s edge, with users who would wait forever:
"""),
    code(
        """
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.compare import measure_chat

for run in measure_chat(QUESTIONS[:3], patient=True):
    outcome = "answered" if run.delivered else "cut by the edge"
    print(f"{outcome:16} after {run.longest_request_s:3.0f} s, {run.tool_calls} tool calls - {run.question}")
""",
        tags=TIMING,
    ),
    md("""
## 1. The job module

A worker imports job functions by module and name, so the job goes in a file:
the next cell writes `research_jobs.py` next to this notebook. Complete it:

1. `submit(queue, question)` - what a web handler calls. Refuse a bad question
   *before* enqueueing (`check_question(question)` raises `ValueError`), enqueue
   `research_job` with the question and `retry=Retry(max=3)` (a crashed job is
   only run again if it has retries), return the job's id.
2. `research_job(question)` - what the worker runs:
   - open a durable run: `with DurableRun.current() as run:`;
   - call `run_research(question, progress=..., steps=run)`: `steps=run`
     checkpoints every model turn and tool call; `progress` receives events
     `{"step", "percent", "message"}` - pass them on with
     `report_progress(event["percent"], event["step"], event["message"])`;
   - turn the result into JSON data: `result.as_dict()`;
   - send the notification once: `run.once("notify", notify, job.id, question,
     data, run.key("notify"))`;
   - return the data.

Run the cell again after each change: the checks reload the module.
"""),
    code(
        '''
%%writefile research_jobs.py
"""The capstone's job functions: RQ imports them from this module."""

from rq import Retry, get_current_job

from stream_or_queue.durable import DurableRun
from stream_or_queue.jobs import Inbox, Message, report_progress
from stream_or_queue.research import check_question, run_research

INBOX = "capstone"


def notify(job_id, question, result, key):
    """Tell the user the answer is ready: one message per idempotency key."""
    body = f"Your question: {question}\\nThe answer is ready: /r/{job_id}"
    message = Message(subject="Your research answer is ready", body=body, job_id=job_id,
                      idempotency_key=key)
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
''',
        tags=FILES,
    ),
    md("""
## 2. Check: one question as a job

The check refuses two bad questions, then runs one on a worker and looks at the
answer, the progress in the job's meta and the inbox.
"""),
    code("""
research_jobs = lab09.load_job_module("research_jobs")
lab09.check_job(research_jobs)
"""),
    md("""
## 3. Check: a crash in the middle

The check kills the worker while your job is taking notes, hands the job back to
RQ and waits for the second attempt. It passes when no finished step ran again
and exactly one notification was sent.
"""),
    code("lab09.check_crash(research_jobs)", tags=TIMING),
    md("""
## 4. Check: the edge, and the results table

Twelve questions through the same 60 s edge: once as the chat box, once through
your `submit`. The table is printed either way; the check passes when none of
your requests was cut and more answers reached their users.
"""),
    code("lab09.check_edge_and_results(research_jobs)", tags=TIMING),
    md("""
Compare with the course's version, `stream_or_queue.research.job`: it adds v3
(writing through the Batches API), a check on the version and result TTLs.
"""),
    md("", tags=["nav"]),
]


write = write_notebook


NOTEBOOKS = {
    "09a": (ROOT / "notebooks" / "09a_research_v1_chat_box.ipynb", V1),
    "09b": (ROOT / "notebooks" / "09b_research_v2_job.ipynb", V2),
    "09c": (ROOT / "notebooks" / "09c_research_v3_batch.ipynb", V3),
    "09d": (ROOT / "notebooks" / "09d_research_results.ipynb", RESULTS),
    "09_capstone": (ROOT / "solutions" / "09_capstone.ipynb", CAPSTONE),
}

if __name__ == "__main__":
    import sys

    chosen = sys.argv[1:] or list(NOTEBOOKS)  # e.g. `nb09_research.py 09c` rewrites only 09c
    for name in chosen:
        path, cells = NOTEBOOKS[name]
        write(path, cells)
    print("wrote", ", ".join(chosen))
