# %% [markdown]
# # 03 · Cancellation and conversation
#
# Two things make a chat feel like a conversation. The user can stop an answer
# that is going the wrong way, and the next question builds on the last answer.
# Both need the request to be live while the user watches. This notebook proves
# that Stop stops the *model*, not just the screen, counts what that saves, keeps
# a conversation's history, and measures what a slow reply does to the pace of a
# conversation.

# %% [markdown]
# ## What you will learn
#
# - Stop an answer mid-stream and close the upstream HTTP stream, and check the
#   simulator's accounting: generation stopped when you clicked.
# - Why a Stop button that only hides the text saves nothing.
# - Count the tokens and dollars a stop saves.
# - Keep a conversation's history, so follow-ups depend on the previous answer,
#   and watch the input tokens grow turn by turn.
# - Measure what a 30-second reply does to a conversation.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue import client, clock, config
from stream_or_queue.course import setup
from stream_or_queue.streaming import CancellableStream, tokens_due_by, upstream_record
from stream_or_queue.widgets import ChatBox

env = setup(seed=0)
llm = client()

# %% [markdown]
# ## 1. Stop, mid-stream
#
# Ask for a long essay, let forty tokens arrive, then press Stop. The cell presses
# it with `stop_button.click()`, which runs exactly the handler a mouse click runs,
# so the notebook can be re-run and tested; in JupyterLab, try the button itself.
#
# A chat box plays on the human clock: real time, the speed a user would see, so
# you can press Stop yourself, even after Run All. Its figures come from a simulated
# clock of its own, played back at that speed: time on it moves only when a token
# is due, so the accounting below is exact, the same on every run.

# %%
chat = ChatBox(max_tokens=4000)
chat

# %%
task = chat.send("Write a 2,000-word essay on streaming versus queues.")
await chat.wait_for_tokens(40)
chat.stop_button.click()
turn = await task
print(f"state: {chat.state}; the answer was cancelled: {turn.cancelled}")
print(
    "the partial answer stays in the transcript and in the history: "
    f"{chat.history[-1]['content'][:60]}..."
)

# %% [markdown]
# What did the server do? When the Stop handler runs, the stream's task is
# waiting for the next token; the wait is interrupted and the SDK stream is
# closed, which closes the HTTP response. The simulator notices the closed stream
# and stops generating. Its ledger records, for this request, how many tokens the
# model *planned*, how many it *generated* before the stream closed, and how many
# were *delivered* to us. `tokens_due_by` works out from the model's schedule how
# many it had produced at the moment of the click (`cancel_requested_s`, on the
# answer's clock).

# %%
record = upstream_record(turn.stats.request_id)
at_click = tokens_due_by(record, turn.stats.cancel_requested_s)
print(
    f"planned {record.planned_output_tokens:,} tokens; at the click the model had produced "
    f"{at_click}; "
    f"generated in the end {record.generated_tokens}; delivered {record.delivered_tokens}"
)
print(f"cancelled: {record.cancelled}, completed: {record.completed}")
closed_s = turn.stats.total_s - turn.stats.cancel_requested_s
print(f"from the click to the upstream stream closed: {closed_s:.2f} s (simulated)")
assert record.cancelled and not record.completed
assert record.generated_tokens <= at_click + 1, "generation must stop within one token of the click"

# %% [markdown]
# The model stopped within one token of the click: it had written what was
# delivered, and nothing more (on a real network, a token or two can be on their way
# when Stop is pressed). How many real milliseconds the close takes depends on the
# machine: the course's benchmarks measure it, in the kernel and in a real browser
# (docs/performance.md). The rest of the notebook measures on the simulated clock;
# the chat box above keeps its own, so its Stop button still works after Run All.

# %% [markdown]
# ### A Stop button that only hides the text
#
# A tempting shortcut: when the user clicks Stop, stop *showing* tokens but let
# the stream run to the end in the background. To the user it looks the same.
# To the server it is a full answer:

# %% [markdown]
# **Predict first.** Before you run the next cell, pick an answer; the cell after
# the measurement puts it beside what was measured (the quick check at the end
# asks it again).

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("03_cancellation_and_conversation", only=["hidden-stop"])

# %%
from typing import Any

essay: dict[str, Any] = dict(
    model=config.LARGE_MODEL,
    max_tokens=4000,
    messages=[{"role": "user", "content": "Write a 2,000-word essay on streaming versus queues."}],
)
shown: list[str] = []
with clock.simulated(), CancellableStream(llm, **essay) as stream:
    for piece in stream:
        if len(shown) < 40:  # "stopped": nothing more is shown...
            shown.append(piece)
hidden = upstream_record(stream.stats.request_id)
print(
    f"shown {len(shown)} tokens; the model generated {hidden.generated_tokens:,} of "
    f"{hidden.planned_output_tokens:,} (cancelled: {hidden.cancelled})"
)
assert hidden.generated_tokens == hidden.planned_output_tokens and not hidden.cancelled


# %%
generated = f"{hidden.generated_tokens:,} of {hidden.planned_output_tokens:,} planned"
Quiz.compare(
    "03_cancellation_and_conversation", "hidden-stop", f"the model generated {generated} tokens"
)

# %% [markdown]
# Every token was generated and billed. A real Stop has to close the stream.
#
# ## 2. What a stop saves
#
# The ledger makes the saving exact: planned minus generated tokens, at the
# model's output price. (Live, nobody knows how long the answer would have been;
# the widget then shows an upper bound from `max_tokens`.)

# %%
saved = turn.saved
print(
    f"saved {saved.tokens:,} of {saved.planned_tokens:,} output tokens = ${saved.dollars:.4f} "
    f"({saved.source})"
)
print(
    f"the stopped answer cost ${turn.stats.cost:.4f}; the hidden-text 'stop' cost "
    f"${config.PRICES[config.LARGE_MODEL].output_per_mtok * hidden.generated_tokens / 1e6:.4f} in "
    "output tokens"
)
stops_per_day = 1_000  # an assumption: 1,000 users each stop one long answer a day
print(f"at {stops_per_day:,} such stops a day: ${saved.dollars * stops_per_day * 30:,.0f} a month")
assert saved.exact and saved.tokens > 2_000

# %% [markdown]
# ## 3. A conversation: follow-ups carry the history
#
# The API is stateless: each request carries the whole conversation. `ChatBox`
# keeps `history` and sends it with every message, so the next answer can build
# on the last one. Three questions, each depending on the one before:

# %%
talk = ChatBox()
talk

# %%
QUESTIONS = [
    "What is time to first token?",
    "How do I measure it in my own chat box?",
    "And what number should I aim for?",
]
turns = [await talk.send(q) for q in QUESTIONS]
for number, t in enumerate(turns, start=1):
    print(
        f"turn {number}: {t.stats.input_tokens:>3} input tokens, {t.stats.output_tokens:>3} output "
        "tokens, "
        f"${t.stats.cost:.5f}"
    )
    print(f"  {t.reply[:110]}...")
print(f"history: {len(talk.history)} messages")

# %% [markdown]
# The second answer opens by referring to the first: it depends on the previous
# answer. The same question asked in a fresh chat gets a different answer, and
# costs fewer input tokens because there is no history to send:

# %%
fresh = await ChatBox().send(QUESTIONS[1])
print(f"fresh chat: {fresh.stats.input_tokens} input tokens")
print(f"  {fresh.reply[:110]}...")
assert fresh.reply != turns[1].reply and fresh.stats.input_tokens < turns[1].stats.input_tokens


# %% [markdown]
# Two consequences. Every turn costs more input tokens than the last, because the
# history grows (long chats are trimmed or summarised for that reason). And turns
# are strictly sequential: the user cannot ask the next question until they have
# read this answer, so each turn's wait adds up.
#
# ## 4. What a 30-second reply does to a conversation
#
# A conversation is a loop: wait for the reply, read it, type the next question.
# Put numbers on each part for the three turns above. Waiting comes from the
# simulator's schedule for each reply; reading and typing from published speeds
# (`config.READING_WORDS_PER_MINUTE`, `config.TYPING_WORDS_PER_MINUTE`). Compare
# three ways of delivering the same replies:
#
# - **streamed**: the wait is the time to first token; the user reads while the
#   rest arrives (the model writes faster than they read);
# - **not streamed**: the wait is the whole reply;
# - **a 30-second reply** (`config.SLOW_CHAT_REPLY_S`): what a chat becomes when
#   its replies go through a queue, or a slow agent sits behind it.


# %%
def turn_seconds(wait_s: float, reply_words: int, question_words: int) -> float:
    """One turn: wait for the reply, read it, type the next question."""
    return (
        wait_s
        + reply_words / config.READING_WORDS_PER_MINUTE * 60
        + question_words / config.TYPING_WORDS_PER_MINUTE * 60
    )


records = [upstream_record(t.stats.request_id) for t in turns]
designs = {
    "streamed": [r.scheduled_ttft_s for r in records],
    "not streamed": [r.scheduled_total_s for r in records],
    "30-second reply": [config.SLOW_CHAT_REPLY_S] * len(records),
}
print("per turn, on average (simulated s):")
print(
    f"{'design':16} {'waiting':>8} {'reading':>8} {'typing':>7} {'turn':>7} {'dead air':>9} "
    f"{'turns in 5 min':>15}"
)
n = len(turns)
shares: dict[str, tuple[float, float]] = {}
reading = sum(len(t.reply.split()) for t in turns) / config.READING_WORDS_PER_MINUTE * 60 / n
typing = sum(len(q.split()) for q in QUESTIONS) / config.TYPING_WORDS_PER_MINUTE * 60 / n
for design, waits in designs.items():
    per_turn = (
        sum(
            turn_seconds(w, len(t.reply.split()), len(q.split()))
            for w, t, q in zip(waits, turns, QUESTIONS, strict=True)
        )
        / n
    )
    waiting = sum(waits) / n
    shares[design] = (waiting / per_turn, 300 / per_turn)
    print(
        f"{design:16} {waiting:>6.1f} s {reading:>6.1f} s {typing:>5.1f} s {per_turn:>5.1f} s "
        f"{waiting / per_turn:>9.0%} {300 / per_turn:>15.1f}"
    )
(dead_streamed, turns_streamed), (dead_slow, turns_slow) = (
    shares["streamed"],
    shares["30-second reply"],
)
print()
print(
    f"streamed, {dead_streamed:.0%} of the conversation is dead air; with a 30-second reply, "
    f"{dead_slow:.0%}, and the turns in five minutes fall from {turns_streamed:.1f} to "
    f"{turns_slow:.1f} ({1 - turns_slow / turns_streamed:.0%} fewer)"
)
assert dead_streamed < 0.1 < 0.3 < dead_slow and turns_slow < turns_streamed

# %% [markdown]
# Streamed, the user spends a small share of the conversation looking at an
# empty reply (the figure above); the rest is reading and typing, which is what a
# conversation is. With a 30-second reply, the dead air is a large share of every
# turn and fewer turns fit in five minutes (both printed above). People do not sit
# through that: they switch tabs, and the next question never comes. That is why
# a conversation must stay
# sync and streamed, and why work that cannot answer in seconds should stop
# pretending to be a chat (notebooks 04 to 06).
#
# The waits above are the model's schedule. The stopwatch in the chat box agrees
# exactly: it reads the answer's simulated clock, which only the schedule moves.

# %%
for t, r in zip(turns, records, strict=True):
    print(
        f"time to first token: measured {t.stats.ttft_s:.2f} s, scheduled {r.scheduled_ttft_s:.2f} "
        "s (simulated)"
    )
    assert abs(t.stats.ttft_s - r.scheduled_ttft_s) < 1e-9

# %% [markdown]
# ## Summary
#
# - Stop must close the upstream stream. The ChatBox's Stop interrupts the wait
#   for the next token and closes the SDK stream; the simulator's ledger shows
#   generation stopped within a token of the click.
# - Hiding the text is not stopping: the model writes, and bills, the whole answer.
# - The saving is planned minus generated tokens - exact offline, an upper bound
#   from `max_tokens` live.
# - A conversation sends its whole history every turn: follow-ups depend on the
#   last answer, and input tokens grow each turn.
# - Each turn is wait + read + type. Streaming keeps the wait at about a second; a
#   30-second reply turns a large share of every turn into dead air (section 4).

# %% [markdown]
# ## Quick check

# %%
from stream_or_queue.widgets import Quiz

Quiz.for_notebook("03_cancellation_and_conversation")

# %% [markdown]
# ## Lab
#
# [Lab 03](../labs/03_cancellation_and_conversation.ipynb): write a streaming loop
# that stops early and really closes the stream, a conversation that keeps its
# history, and the turn arithmetic. ([solution](../solutions/03_cancellation_and_conversation.ipynb))

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [02 · Streaming chat](02_streaming_chat.ipynb) | [Course index](../README.md#lessons) | [04 · Why long sync requests fail](04_why_long_sync_requests_fail.ipynb) →
#
# **Lab:** [Lab 03 · Cancellation and conversation](../labs/03_cancellation_and_conversation.ipynb) · [solution](../solutions/03_cancellation_and_conversation.ipynb)
