# %% [markdown]
# # 09d · Research assistant: the results
#
# 09a built the chat box and watched it fail, 09b rebuilt it as a job, 09c moved
# what can wait to the Batches API. This notebook measures all three versions on
# the same questions and the same users, through the same edge and the same
# deploy, and puts each figure next to the claim of the article that started this
# course.

# %% [markdown]
# ## What you will learn
#
# - Build the results table - timeouts, cost per question, completion, work lost
#   in a deploy - from runs, not from constants.
# - Check each of the article's claims against it, and see which figures depend
#   on the stated user model and which do not.
# - Read the trade v3 makes: cheaper answers that arrive later.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

# %% [markdown]
# ## 1. The results table
#
# All three versions on the same questions and the same users, through the same
# 60 s edge, plus a deploy with twelve questions in flight for each. To keep the
# notebook to seconds, it measures every other question of the sixty (thirty
# agents per version, v1's in a second process so that each measurement has a
# core); `scripts/bench_research.py` runs all sixty and
# [docs/performance.md](../docs/performance.md) records its figures.

# %% tags=["nbval-ignore-output", "why:timing"]
from stream_or_queue.research import QUESTIONS
from stream_or_queue.research.compare import compare

comparison = compare(QUESTIONS[::2])
print(f"{'':36}{'v1':>9}{'v2':>9}{'v3':>9}   claim")
for row in comparison.rows:
    mark = "holds" if row.holds else "DOES NOT HOLD"
    print(f"{row.metric:36}{row.v1:>9}{row.v2:>9}{row.v3:>9}   {row.claim} [{mark}]")
assert comparison.summaries["v2"].timeout_rate == comparison.summaries["v3"].timeout_rate == 0
assert all(row.holds for row in comparison.rows[1:])

# %% tags=["nbval-ignore-output", "why:timing"]
import matplotlib.pyplot as plt

from stream_or_queue.research.plots import cost_bars, outcome_bars

summaries = [comparison.summaries[v] for v in ("v1", "v2", "v3")]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
outcome_bars(summaries, ax=left)
cost_bars(summaries, ax=right)
for s in summaries:
    print(
        f"{s.version}: cut {s.timeout_rate:.0%}, left {s.abandonment_rate:.0%}, "
        f"answered {s.completion_rate:.0%}, ${s.cost_per_question_usd:.4f} per question, "
        f"${s.cost_per_answer_usd:.4f} per answer"
    )

# %% [markdown]
# Each claim of the article, measured:
#
# - **0% timeout failures.** With users who never give up, about half of v1's
#   requests run into the edge (the row's v1 figure); with real users, some
#   leave first (the bars). v2's and v3's requests never do - the only requests
#   they make are a submit and a few status checks.
# - **Cheaper.** v3 costs well over 30% less per question than v1, although v1
#   stops paying the moment a request is cut. Per answer *delivered* the gap is
#   far larger, because v1 pays for so many answers nobody receives.
# - **Higher completion.** v1 answers only the questions that are both quick and
#   asked by patient users. v2 and v3 finish every question; the notification
#   brings back most of the users who left. v3 tends to deliver a little less
#   than v2 - its batch makes answers take minutes, so more users leave before it
#   is done.
# - **Deploys don't kill research.** A deploy loses every v1 conversation in
#   flight; v2 and v3 redo no finished step.
#
# The rates differ a little from 09a's and 09b's, which measured all sixty
# questions: thirty questions move a rate in steps of about 3%.
#
# The figures rest on the stated user model. Change `config.USER_PATIENCE_MEDIAN_S`
# or `config.NOTIFICATION_RETURN_RATE` and rerun: the edge's timeout rate and the
# jobs' costs do not move with it; the completion rates do, and so does what v1
# spends, since its requests end when their users leave.

# %% tags=["nbval-ignore-output", "why:timing"]
v3_runs = comparison.runs["v3"]
finished = [r for r in v3_runs if r.finished]
print(f"v3 finished {len(finished)} of {len(v3_runs)} questions")
assert len(finished) == len(v3_runs)

# %% [markdown]
# ## Summary
#
# - On the same questions and users: v1 is cut by the edge or abandoned for most
#   questions; v2 and v3 have 0% timeouts, deliver far more answers, survive
#   deploys, and v3 costs well over 30% less per question than v1.
# - The edge's timeouts and the jobs' costs do not depend on the user model;
#   completion rates (and v1's spend) do.
# - The product is not worse for the user - a notification and a permalink
#   instead of a spinner. The chat box was the bug.

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("09d_research_results")

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
# ← [09c · Research assistant v3: batch](09c_research_v3_batch.ipynb) | [Course index](../README.md#lessons) | [10 · Choosing a pattern](10_choosing_a_pattern.ipynb) →
#
# **Lab:** [Lab 09 · Capstone: the research assistant](../labs/09_capstone.ipynb) · [solution](../solutions/09_capstone.ipynb)
