# %% [markdown]
# # 01 · The sync fast path
#
# Not every AI feature needs a chat box, a stream or a queue. Approving or
# rejecting an expense is one short decision: the user clicks, and the answer
# should be on screen before they notice they were waiting. For that, the plainest
# thing works best: one synchronous call to a fast model, asking for a very short
# answer. This notebook measures how fast that is, works out the latency budget
# that keeps it under a second, and shows why streaming would add nothing.

# %% [markdown]
# ## What you will learn
#
# - Make a sub-second decision with one plain `messages.create` call to the fast
#   model, with a short answer.
# - Measure the p50 and p95 latency of 50 calls and read them off a histogram.
# - Split a one-second budget into its parts, and see what breaks it: a longer
#   answer or a slower model.
# - Recognise when streaming adds nothing: for a one-word answer the first token
#   *is* the answer.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue.course import setup

env = setup(seed=0)

# %% [markdown]
# Every duration in this course is in *simulated* seconds. The cells that measure
# latencies run inside `clock.simulated()`: there, waiting for the model does not
# sleep, it moves a simulated clock forward by exactly the time the model's schedule
# says, and the stopwatch reads that clock. The latencies below are therefore the
# model's, exact and the same on every run; Python's own share is measured apart,
# in real milliseconds.

# %% [markdown]
# ## 1. One expense, one call
#
# The reviewer's instructions go in the system prompt; the expense goes in the
# user message. `max_tokens=20` caps the answer: a decision and a short reason
# need fewer than ten tokens, and the cap makes sure a chatty answer can never
# blow the latency budget.

# %%
from stream_or_queue import client, config

llm = client()
POLICY = (
    "You review employee expenses against the travel policy. Approve or reject each one: "
    "answer APPROVE or REJECT, a colon, and a reason of at most eight words."
)


def review(
    expense: str, model: str = config.FAST_MODEL, max_tokens: int = 20, system: str = POLICY
) -> dict:
    """The Messages API parameters for one expense."""
    return dict(
        model=model,
        max_tokens=max_tokens,
        system=system,
        messages=[{"role": "user", "content": f"Expense: {expense}"}],
    )


message = llm.messages.create(
    **review("Taxi from the airport to the client's office, $38.50, receipt attached.")
)
print(message.content[0].text)
print(f"{message.usage.input_tokens} input tokens, {message.usage.output_tokens} output tokens")

# %% [markdown]
# ## 2. Fifty expenses: p50 and p95
#
# A single call tells you little; latency is a distribution. The cell below makes
# 50 expenses from a seeded generator (taxis, hotels, lunches, and a few that
# break the policy) and sends each one with a plain call. `measure_call` from
# `stream_or_queue.streaming` wraps `messages.create` with a stopwatch that
# reports simulated seconds.

# %%
import random
from collections import Counter

from stream_or_queue import clock
from stream_or_queue.streaming import measure_call, percentile

rng = random.Random(0)
KINDS = [
    ("Taxi from the airport to the client's office", 18, 90, "receipt attached"),
    ("Hotel, two nights for the Berlin conference", 180, 420, "receipt attached"),
    ("Team lunch for six after the release", 60, 240, "receipt attached"),
    ("Train ticket to the Paris office", 40, 160, "missing receipt"),
    ("Conference ticket bought without pre-approval", 550, 900, "receipt attached"),
    ("Wine for the client dinner (alcohol)", 40, 120, "receipt attached"),
    ("Gift card for a supplier", 25, 100, "no receipt"),
]
EXPENSES = [
    f"{what}, ${rng.uniform(low, high):,.2f}, {receipt}."
    for what, low, high, receipt in (rng.choice(KINDS) for _ in range(50))
]
with clock.simulated():
    calls = [measure_call(llm, **review(expense)) for expense in EXPENSES]
decisions = Counter(call.text.split(":")[0] for call in calls)
print(f"{len(calls)} calls: {decisions['APPROVE']} approved, {decisions['REJECT']} rejected")
for expense, call in list(zip(EXPENSES, calls, strict=True))[:4]:
    print(f"  {expense:70} -> {call.text}")

# %% [markdown]
# The latencies, read off the simulated clock:

# %%
latencies = [call.latency_s for call in calls]
p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
print(f"p50 {p50:.2f} s, p95 {p95:.2f} s, slowest {max(latencies):.2f} s (simulated)")
assert p95 < config.SYNC_LATENCY_BUDGET_S, "the fast path should answer within a second"

# %%
from stream_or_queue import plots

ax = plots.latency_histogram(
    latencies,
    budget_s=config.SYNC_LATENCY_BUDGET_S,
    title="50 expense decisions, fast model, plain sync",
)

# %% [markdown]
# The p95 lands left of the one-second line (the cell above asserts it). It is
# the figure to design for: one user in twenty waits at least that long.
#
# ## 3. The latency budget
#
# Where does the time go? The simulator keeps a ledger of every request, including
# the timing it scheduled for the model: the time to first token (queueing and
# reading the prompt) and the time to write the rest. On the simulated clock the
# stopwatch reads exactly that schedule (the cell checks it); everything else (the
# SDK, the transport, your code) is real time, measured next. In production, add
# the network round trip as well.

# %%
from stream_or_queue.streaming import upstream_record

records = [upstream_record(call.request_id) for call in calls]
first = [r.scheduled_ttft_s for r in records]
writing = [r.scheduled_total_s - r.scheduled_ttft_s for r in records]
print(
    f"model, time to first token: p50 {percentile(first, 50):.2f} s, p95 "
    f"{percentile(first, 95):.2f} s"
)
print(
    f"model, writing the rest:    p50 {percentile(writing, 50):.3f} s, p95 "
    f"{percentile(writing, 95):.3f} s"
)
print(
    f"answer length: {min(c.output_tokens for c in calls)}-{max(c.output_tokens for c in calls)} "
    "tokens"
)
assert all(
    abs(c.latency_s - r.scheduled_total_s) < 1e-9 for c, r in zip(calls, records, strict=True)
)

# %% [markdown]
# Everything else is the one figure here that is about real time, so it is measured
# on the wall clock: the same fifty calls again, each timed in real milliseconds. On
# the simulated clock the model's share costs no real time, so what the wall clock
# sees is the SDK, the transport and Python. It varies with the machine and its load,
# which is why this cell's output is not compared by the tests.

# %% tags=["nbval-ignore-output", "why:timing"]
overhead_ms = []
with clock.simulated():
    for expense in EXPENSES:
        watch = clock.Stopwatch()
        llm.messages.create(**review(expense))
        overhead_ms.append(watch.elapsed_real * 1000)
print(
    f"everything else (SDK, transport, Python): p50 {percentile(overhead_ms, 50):.1f} ms, "
    f"p95 {percentile(overhead_ms, 95):.1f} ms of real time per call"
)

# %% [markdown]
# So the budget of one second splits into three parts. With the fast model's
# profile, the worst first token takes 0.7 s; what is left pays for the answer's
# tokens and the trip there and back. The cell computes how long the answer may
# be, assuming 0.1 s for network and code:

# %% [markdown]
# **Predict first.** Before you run the next cell, pick an answer; the cell after
# the measurement puts it beside what was measured (the quick check at the end
# asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("01_sync_fast_path", only=["tokens-in-budget"])

# %%
import math

from stream_or_queue.simulator import count_tokens

budget = config.SYNC_LATENCY_BUDGET_S
network_and_code = 0.1  # an assumption for a deployed service; in-process it is far less
print(f"{'model':20} {'worst first token':>18} {'tokens/s':>9} {'answer may be':>15}")
for model in (config.FAST_MODEL, config.LARGE_MODEL):
    profile = config.TIMING[model]
    room = budget - profile.ttft_max_s - network_and_code
    tokens = max(0, math.floor(room * profile.tokens_per_s))
    print(
        f"{model:20} {profile.ttft_max_s:>16.2f} s {profile.tokens_per_s:>9.0f} {tokens:>8} tokens"
    )
    if model == config.FAST_MODEL:
        example = "REJECT: alcohol expenses are not reimbursable."
        print(
            f"  the fast model's room fits a reason like {example!r} ({count_tokens(example)} tokens)"
        )
        assert count_tokens(example) <= tokens
    elif profile.ttft_max_s > budget:
        print(f"  the large model's first token alone can take longer than the {budget:g} s budget")


# %%
fast = config.TIMING[config.FAST_MODEL]
fast_room = budget - fast.ttft_max_s - network_and_code
fast_tokens = max(0, math.floor(fast_room * fast.tokens_per_s))
Quiz.compare(
    "01_sync_fast_path", "tokens-in-budget", f"the fast model's answer may be {fast_tokens} tokens"
)

# %% [markdown]
# Measure both ways of breaking the budget: ask the
# fast model for a 150-word justification instead of a one-line reason, and ask
# the large model for the same one-line decision. Ten expenses each:

# %%
variants = {
    "fast model, one line": lambda e: review(e),
    "fast model, 150-word justification": lambda e: review(
        f"{e}\nWrite a 150-word justification of the decision.",
        max_tokens=400,
        system="You write justifications of expense decisions for the finance team.",
    ),
    "large model, one line": lambda e: review(e, model=config.LARGE_MODEL),
}
budget_table = {}
for name, make in variants.items():
    with clock.simulated():
        measured = [measure_call(llm, **make(expense)) for expense in EXPENSES[:10]]
    p95_measured = percentile([m.latency_s for m in measured], 95)
    budget_table[name] = p95_measured
    print(
        f"{name:36} measured p95 {p95_measured:5.2f} s (simulated)  "
        f"{'within' if p95_measured < budget else 'OVER'} the {budget:g} s budget"
    )
assert budget_table["fast model, one line"] < budget < budget_table["large model, one line"]

# %% [markdown]
# Sub-second is a property of three choices together: a fast model, a short answer
# and nothing else in the way.
#
# ## 4. When streaming adds nothing
#
# Streaming shows the first words while the rest is still being written. That is
# worth a lot when there are many words to come. Here there are five to twenty. Stream
# the same decisions and compare the time to the first token with the time to the
# whole answer:

# %%
from stream_or_queue.streaming import measure_stream

with clock.simulated():
    streamed = [measure_stream(llm, **review(expense)) for expense in EXPENSES[:20]]
    chat = measure_stream(
        llm,
        model=config.FAST_MODEL,
        max_tokens=400,
        messages=[
            {
                "role": "user",
                "content": "Explain in detail how our expense policy treats client dinners.",
            }
        ],
    )
share = [s.ttft_s / s.total_s for s in streamed]
print(
    f"expense decision: first token after {percentile([s.ttft_s for s in streamed], 50):.2f} s, "
    f"whole answer after {percentile([s.total_s for s in streamed], 50):.2f} s (p50, simulated)"
)
print(
    f"  -> the first token takes {percentile(share, 50):.0%} of the whole wait (p50; lowest "
    f"{min(share):.0%})"
)
print(
    f"a {chat.output_tokens}-token chat answer: first token after {chat.ttft_s:.2f} s, "
    f"whole answer after {chat.total_s:.2f} s -> {chat.ttft_s / chat.total_s:.0%}"
)
assert percentile(share, 50) > 0.8 and chat.ttft_s / chat.total_s < 0.5

# %% [markdown]
# For the decision, the first token arrives when the answer is nearly complete,
# and the first token *is* the decision ("APPROVE" or "REJECT"): there is nothing
# to show early. Streaming would only add code: parsing events, handling a
# half-finished answer, cancelling. Keep it sync, keep it short.
#
# ## 5. Two more budgets: code completion and a voice turn
#
# The seed puts two more features on the sync side: code completion (sync
# streaming) and a voice assistant (streaming with a low-latency model). Each has
# its own budget, and a different part of the wait counts against it:
#
# - **code completion**: the suggestion appears as a whole (ghost text), so the
#   *total* time of a short answer counts;
# - **a voice turn**: speech starts from the first words, so the model's *time to
#   first token* counts, after transcription and before the first audio.
#
# The budgets are assumptions, printed with their sources. Forty requests of each,
# to the fast and the large model, measured on the simulated clock (the same on
# every run):

# %%
import textwrap

print(
    textwrap.dedent(
        f"""\
        assumptions:
          code completion: whole suggestion within {config.COMPLETION_LATENCY_BUDGET_S:g} s
            (Nielsen 1993, the limit for an uninterrupted flow of thought)
          voice: speech starts within {config.VOICE_REPLY_BUDGET_S:g} s of the user stopping
            (Nielsen 1993; people leave about 0.2 s between turns, Stivers et al. 2009),
            of which transcription takes {config.VOICE_SPEECH_TO_TEXT_S:g} s and the first
            audio {config.VOICE_FIRST_AUDIO_S:g} s (assumed for a typical speech pipeline)"""
    )
)
voice_ttft_budget = (
    config.VOICE_REPLY_BUDGET_S - config.VOICE_SPEECH_TO_TEXT_S - config.VOICE_FIRST_AUDIO_S
)
SNIPPETS = [f"def total_price(items, tax_rate={n / 100:.2f}):\n    return " for n in range(40)]
VOICE = [f"In one short sentence: when does train number {n} leave?" for n in range(40)]


def completion(code: str, model: str) -> dict:
    return dict(
        model=model,
        max_tokens=24,
        system="Complete the code at the cursor. Answer with code only.",
        messages=[{"role": "user", "content": code}],
    )


def voice_turn(question: str, model: str) -> dict:
    return dict(model=model, max_tokens=60, messages=[{"role": "user", "content": question}])


rows = {}
for model in (config.FAST_MODEL, config.LARGE_MODEL):
    with clock.simulated():
        done = [measure_stream(llm, **completion(c, model)) for c in SNIPPETS]
        spoken = [measure_stream(llm, **voice_turn(q, model)) for q in VOICE]
    whole = [d.total_s for d in done]
    first = [v.ttft_s for v in spoken]
    rows[("code completion, whole suggestion", model)] = (
        percentile(whole, 95),
        config.COMPLETION_LATENCY_BUDGET_S,
        done,
    )
    rows[("voice turn, first token", model)] = (percentile(first, 95), voice_ttft_budget, spoken)
print(f"{'task':36} {'model':18} {'p95':>7} {'budget':>7}")
for (task, model), (p95_s, budget_s, _) in rows.items():
    verdict = "within" if p95_s <= budget_s else "OVER"
    print(f"{task:36} {model:18} {p95_s:5.2f} s {budget_s:5.2f} s  {verdict}")

# %%
fast_voice = rows[("voice turn, first token", config.FAST_MODEL)][0]
slow_voice = rows[("voice turn, first token", config.LARGE_MODEL)][0]
fast_code = rows[("code completion, whole suggestion", config.FAST_MODEL)][0]
slow_code = rows[("code completion, whole suggestion", config.LARGE_MODEL)][0]
speaking_tokens_s = config.SPEAKING_WORDS_PER_MINUTE / 60 / config.WORDS_PER_TOKEN
writing_tokens_s = config.TIMING[config.FAST_MODEL].tokens_per_s
print(
    f"code completion: the fast model's p95 is {fast_code:.2f} s against "
    f"{config.COMPLETION_LATENCY_BUDGET_S:g} s; the large model's is {slow_code:.2f} s "
    f"({slow_code / fast_code:.1f}x slower)"
)
print(
    f"voice: the model may take {voice_ttft_budget:.2f} s to its first token; the fast model's "
    f"p95 is {fast_voice:.2f} s ({'within' if fast_voice <= voice_ttft_budget else 'over'}), "
    f"the large model's {slow_voice:.2f} s ({'within' if slow_voice <= voice_ttft_budget else 'over'})"
)
print(
    f"once speech starts, the fast model writes {writing_tokens_s:.0f} tokens/s and speech "
    f"uses {speaking_tokens_s:.1f}: the stream stays {writing_tokens_s / speaking_tokens_s:.0f}x "
    "ahead of the voice"
)
assert fast_code < slow_code and fast_voice < slow_voice
assert slow_voice > voice_ttft_budget and slow_code > config.COMPLETION_LATENCY_BUDGET_S

# %% [markdown]
# Both features are sync, and both are decided by the same three choices as the
# expense: a fast model, a short answer, nothing else in the way. Only the part of
# the wait that counts differs: the whole suggestion for code, the first token for
# a voice, which is why a voice assistant *streams* (the voice speaks the first
# words while the model writes the rest, far faster than anyone speaks). The
# large model misses both budgets (asserted above). How much room the fast model
# has for a voice depends on the assumed transcription and audio times: change
# them in `config` and rerun the cell; voice products buy room by cutting what
# comes before the model (faster transcription, shorter prompts).
#
# ## Summary
#
# - A quick decision (approve or reject) is a plain synchronous call to the fast
#   model with a capped, short answer: p95 well under a second.
# - Judge latency by its distribution: p50 is typical, p95 is what one user in
#   twenty gets, and the histogram shows both against the budget.
# - The one-second budget is the first token plus the answer's tokens plus the
#   network and your code. A longer answer or a slower model breaks it; measure
#   each choice.
# - Streaming pays off only when there is a lot to read after the first token. For
#   a one-word answer, time to first token ≈ total time.
# - Code completion and a voice turn are sync too, each with its budget: the whole
#   short suggestion for code, the first token for a voice (which streams, because
#   speech starts from the first words).

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("01_sync_fast_path")

# %% [markdown]
# ## Lab
#
# [Lab 01](../labs/01_sync_fast_path.ipynb): write the expense decision yourself,
# compute nearest-rank percentiles, and turn the latency budget into a maximum
# answer length. ([solution](../solutions/01_sync_fast_path.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [00 · Welcome](00_welcome.ipynb) | [Course index](../README.md#lessons) | [02 · Streaming chat](02_streaming_chat.ipynb) →
#
# **Lab:** [Lab 01 · The sync fast path](../labs/01_sync_fast_path.ipynb) · [solution](../solutions/01_sync_fast_path.ipynb)
