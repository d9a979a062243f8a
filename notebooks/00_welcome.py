# %% [markdown]
# # 00 · Welcome
#
# Most AI features are built as a chat box by reflex: the user types, the model
# streams, everyone waits. That is exactly right when a person is watching and the
# answer is short, and exactly wrong when the work takes minutes, must survive a
# crash, or covers ten thousand items. This course teaches you to tell the two apart
# and to build both, by measuring them. This first notebook checks your setup, makes
# a first streamed call, and previews the questions the rest of the course answers.

# %% [markdown]
# ## What you will learn
#
# - What the course runs on: the real `anthropic` SDK and RQ, offline by default.
# - Which clock each part runs on: real time for what you drive, simulated time for what
#   a cell measures, so a 90-second agent is measured exactly in under a second.
# - What *time to first token* is, measured on your first streamed answer.
# - The four questions that decide between a stream and a queue.
# - How the course is laid out: lessons, labs, timings.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

# %% [markdown]
# `setup()` is the first cell of every notebook. It reseeds everything, so a notebook
# gives the same answers every time you run it from the top, starts a fresh offline
# simulator and a fresh in-process queue, and prints what the notebook runs against and
# which clock each part uses (section 3 says why there are three).
#
# ## 1. What is installed
#
# The course is built on ordinary, well-known parts. This cell lists their versions
# (they differ from one install to the next, so this cell's output is not compared
# by the tests) and fails loudly if one is missing or too old.

# %% tags=["nbval-ignore-output", "why:versions"]
from stream_or_queue.course import versions

installed = versions()
for name, version in installed.items():
    print(f"{name:<11} {version}")

minimum = {"anthropic": (2, 13), "rq": (3, 0), "fakeredis": (2, 40), "ipywidgets": (8, 1)}
for name, wanted in minimum.items():
    found = tuple(int(part) for part in installed[name].split(".")[:2])
    assert found >= wanted, f"{name} {installed[name]} is older than {wanted}: run `make lab` again"

# %% [markdown]
# ## 2. Offline or live
#
# Every call in this course goes through the official SDK, `anthropic.Anthropic`.
# Offline (the default) its HTTP layer is wired to a simulator of the Messages API
# that runs inside this kernel: same requests, same responses, same streaming
# events, same errors, no key and no network. With `STREAM_OR_QUEUE_MODE=live` and
# an `ANTHROPIC_API_KEY` in the environment, `client()` returns a client for the real
# API instead, and the code below does not change.
#
# The offline model is not a language model. It recognises the tasks this course sends
# (classify an expense, describe a product, summarise, write a report, research with
# citations) and answers the questions you make up from a set of notes on the course's
# subjects: streaming, queues, batches, retries, durability, timeouts and cost. A
# follow-up builds on its previous answer; a question outside those subjects gets an
# honest reply that says so. Its token counts, timing and cost behave like the real
# API's, and the same question always gives the same answer. A live key gives you a
# real model's answers to anything.
#
# The measurement: one plain (non-streamed) call, and what came back.

# %%
from stream_or_queue import client, config

llm = client()
reply = llm.messages.create(
    model=config.FAST_MODEL,
    max_tokens=100,
    messages=[{"role": "user", "content": "Say hello to a new student in one sentence."}],
)
print("client:", type(llm).__module__.split(".")[0] + "." + type(llm).__name__)
print("mode:  ", config.mode())
print("model: ", reply.model, "| stop reason:", reply.stop_reason)
print(
    "usage: ", reply.usage.input_tokens, "input tokens,", reply.usage.output_tokens, "output tokens"
)
print()
print(reply.content[0].text)

# %% [markdown]
# ## 3. Which clock runs what
#
# The waits this course is about are long: an agent that works for 90 seconds, a
# batch that finishes in an hour. One rule decides which clock runs them: **what you
# drive runs in real time, what a cell measures runs on simulated time.** A chat box you
# type into, a job you start from the web page, the decision guide: they go at a real
# model's pace (a first token after about a second, then 60-95 tokens a second), so you
# can read along and press Stop in the middle (`ChatBox(speed=0.25)` plays a model four
# times slower). A cell that measures runs on a simulated clock that jumps ahead by
# exactly each wait instead of sleeping, so its figures, in simulated seconds, are exact
# and the same on every run. Queue workers and web servers run in other threads or
# processes, out of that clock's reach: they play simulated seconds back fast, at a
# *time scale*. The Setup line of every notebook names all three.
#
# Here is the 90-second agent, measured inside `clock.simulated()`:

# %%
from stream_or_queue import clock

with clock.simulated():
    watch = clock.Stopwatch()
    clock.sleep(90)
real = "under a second" if watch.elapsed_real < 1 else f"{watch.elapsed_real:.1f} s"
print(f"waited {watch.elapsed:.1f} s on the simulated clock, in {real} of real time")
assert watch.elapsed == 90

# %% [markdown]
# And what the same waits take in a background worker, on this notebook's time scale:

# %%
print(f"time scale: {config.time_scale():g} real s per simulated s")
for what, simulated in [("agent job", 90), ("batch", 3_600)]:
    print(f"{what:<9} {simulated:>6,} simulated s -> {clock.to_real(simulated):g} real s here")

# %% [markdown]
# ## 4. A first streamed answer
#
# A streamed call sends the answer in small pieces as the model writes it, so the
# reader starts reading long before the answer is finished. Two numbers describe
# it: the *time to first token* (TTFT), how long the screen stays empty, and the
# *total time*, when the last word arrives. The cell prints the text as it arrives
# and takes the time of the first piece and of the last. It runs on a simulated clock
# played back at 0.1 real s per simulated s (`pace=0.1`): slow enough to watch it
# stream, while the stopwatch reads the simulated clock, so the figures are exact.
#
# Before you run it, make a prediction (the quick check at the end asks it again):

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("00_welcome", only=["empty-screen-share"])

# %%
prompt = "Write a 120-word welcome note for a course about streaming and queues."
with clock.simulated(pace=0.1):  # slow enough to watch; the figures stay exact
    watch = clock.Stopwatch()
    ttft = None
    with llm.messages.stream(
        model=config.LARGE_MODEL, max_tokens=400, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        for text in stream.text_stream:
            if ttft is None:
                ttft = watch.elapsed  # the first piece of text: the screen is no longer empty
            print(text, end="")
        answer = stream.get_final_message()
    total = watch.elapsed
print()

# %% [markdown]
# What the simulator planned for this answer (seeded, so the same on every run),
# and what the notebook measured on the simulated clock:

# %%
planned = env.simulator.ledger[-1]
print(f"output tokens:       {answer.usage.output_tokens}")
print(f"planned first token: {planned.scheduled_ttft_s:.2f} s, measured {ttft:.2f} s (simulated)")
print(f"planned last token:  {planned.scheduled_total_s:.2f} s, measured {total:.2f} s (simulated)")
share = ttft / total
print(f"the reader waits for {share:.0%} of the total before seeing anything")
assert abs(ttft - planned.scheduled_ttft_s) < 1e-9 and abs(total - planned.scheduled_total_s) < 1e-9


# %% [markdown]
# The first words show up after about a second; the rest streams in over the next
# few. Without streaming the screen would stay empty for the whole total. That is
# the entire benefit of streaming: it moves the *first* word earlier. It does not
# make the answer finish any sooner - which is why it cannot rescue a task that takes
# two minutes.
#
# ## 5. The four questions
#
# The rest of the course is one decision, asked about every AI feature. In short:
#
# 1. **Is a person waiting on this answer right now?** If nobody is watching, there
#    is nothing to stream to: run it in the background and tell them when it is done.
# 2. **Will it take more than about 15 seconds?** A long wait behind an open HTTP
#    request gets cut by some proxy on the way, and people give up. Start a job and
#    report progress instead (or stream structured progress, not just tokens).
# 3. **Must the work survive a crash or a deploy?** Then it needs a queue and
#    checkpoints, not a request held open in a web server.
# 4. **Would batch pricing save real money?** Work that can wait hours can go
#    through the batch API at half the price - only from the background.
#
# Here is that logic as a first, rough function (notebook 10 builds the full
# version), applied to a few features:


# %%
def first_guess(watching: bool, seconds: float, must_survive: bool, batch_saves: bool) -> str:
    if not watching or must_survive or batch_saves:
        return "queue"
    if seconds > 15:
        return "queue + progress"
    return "stream" if seconds > 1 else "sync"


features = [
    ("chat assistant reply", True, 4, False, False),
    ("approve / reject an expense", True, 0.4, False, False),
    ("research agent, about 90 s", True, 90, False, False),
    ("summarise a 300-page document", False, 180, True, False),
    ("10,000 product descriptions", False, 7_200, True, True),
]
for name, watching, seconds, must_survive, batch_saves in features:
    print(f"{name:<32} -> {first_guess(watching, seconds, must_survive, batch_saves)}")

# %% [markdown]
# ## 6. The course map
#
# Each lesson has a lab (an exercise notebook with checks) and its solution. The
# minutes are for a workshop, lesson and lab together.

# %% [markdown] tags=["course-map"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# | # | lesson | lab | minutes |
# |---|---|---|---:|
# | 00 | [Welcome](00_welcome.ipynb) | [00_welcome](../labs/00_welcome.ipynb) | 10 |
# | 01 | [The sync fast path](01_sync_fast_path.ipynb) | [01_sync_fast_path](../labs/01_sync_fast_path.ipynb) | 15 |
# | 02 | [Streaming chat](02_streaming_chat.ipynb) | [02_streaming_chat](../labs/02_streaming_chat.ipynb) | 20 |
# | 03 | [Cancellation and conversation](03_cancellation_and_conversation.ipynb) | [03_cancellation_and_conversation](../labs/03_cancellation_and_conversation.ipynb) | 15 |
# | 04 | [Why long sync requests fail](04_why_long_sync_requests_fail.ipynb) | [04_why_long_sync_requests_fail](../labs/04_why_long_sync_requests_fail.ipynb) | 20 |
# | 05 | [Background jobs](05_background_jobs.ipynb) | [05_background_jobs](../labs/05_background_jobs.ipynb) | 25 |
# | 05x | [Background jobs: going further](05x_background_jobs_going_further.ipynb) | [05_background_jobs](../labs/05_background_jobs.ipynb) | *15, optional* |
# | 06 | [Start, then poll](06_start_then_poll.ipynb) | [06_start_then_poll](../labs/06_start_then_poll.ipynb) | 20 |
# | 07 | [Batch at scale](07_batch_at_scale.ipynb) | [07_batch_at_scale](../labs/07_batch_at_scale.ipynb) | 25 |
# | 07x | [Batch at scale: going further](07x_batch_going_further.ipynb) | [07_batch_at_scale](../labs/07_batch_at_scale.ipynb) | *15, optional* |
# | 08 | [Durability](08_durability.ipynb) | [08_durability](../labs/08_durability.ipynb) | 20 |
# | 09a | [Research assistant v1: the chat box](09a_research_v1_chat_box.ipynb) | [09_capstone](../labs/09_capstone.ipynb) | 15 |
# | 09b | [Research assistant v2: the job](09b_research_v2_job.ipynb) | [09_capstone](../labs/09_capstone.ipynb) | 20 |
# | 09c | [Research assistant v3: batch](09c_research_v3_batch.ipynb) | [09_capstone](../labs/09_capstone.ipynb) | 15 |
# | 09d | [Research assistant: the results](09d_research_results.ipynb) | [09_capstone](../labs/09_capstone.ipynb) | 10 |
# | 10 | [Choosing a pattern](10_choosing_a_pattern.ipynb) | [10_choosing_a_pattern](../labs/10_choosing_a_pattern.ipynb) | 15 |
# | | **whole course** | | **245** |

# %% [markdown]
# ## Summary
#
# - Every notebook uses the real SDK and a real queue, offline by default; the same
#   code runs live with a key.
# - What you drive runs in real time; what a cell measures runs on simulated time
#   (`clock.simulated()`), so its figures are exact; background workers play simulated
#   seconds back fast, at a time scale.
# - Streaming shortens the time to the first word, not the time to the last one.
# - Four questions decide between a stream and a queue: is someone waiting, will it
#   take long, must it survive a crash, would batch pricing pay.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("00_welcome")

# %% [markdown]
# ## Lab
#
# Warm up with [lab 00](../labs/00_welcome.ipynb): write the function that measures
# the time to first token of one streamed call, and the streaming rate after it.

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# [Course index](../README.md#lessons) | [01 · The sync fast path](01_sync_fast_path.ipynb) →
#
# **Lab:** [Lab 00 · Welcome](../labs/00_welcome.ipynb) · [solution](../solutions/00_welcome.ipynb)
