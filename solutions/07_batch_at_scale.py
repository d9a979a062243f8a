# %% [markdown]
# # Lab 07 · Batch at scale
#
# You will send 1,000 prompts through the Message Batches API with five small
# functions: build the requests, submit and poll, read the results, resubmit only
# the failures, and price the result. Each check cell runs your function against
# its own simulator (with errored and expired entries where it matters) and says
# what is missing until it is right.

# %% [markdown]
# ## Setup

# %%
from stream_or_queue import client, clock, config, cost
from stream_or_queue.course import setup
from stream_or_queue.labs import call_learner, lab07
from stream_or_queue.simulator import Faults

env = setup(seed=0, time_scale=0.001, faults=Faults(batch_errored=0.02))
api = client()
PROMPTS = lab07.prompts()  # 1,000 (custom_id, prompt) pairs
print(len(PROMPTS), PROMPTS[0][0])


# %% [markdown]
# The time scale is 0.001 real seconds per simulated second: a batch of 1,000
# takes 170 simulated seconds, a fifth of a real second. In this notebook's
# simulator 2% of batch entries error; the checks also make some expire.
#
# ## 1. Requests
#
# Write `to_requests(prompts)`: one `{"custom_id": ..., "params": {...}}` per
# `(custom_id, prompt)` pair. `params` are the Messages API parameters: the fast
# model (`config.FAST_MODEL`), `max_tokens=200`, and one user message with the
# prompt.


# %%
def to_requests(prompts):
    """Batch requests for (custom_id, prompt) pairs."""
    ### BEGIN SOLUTION
    return [
        {
            "custom_id": custom_id,
            "params": {
                "model": config.FAST_MODEL,
                "max_tokens": 200,
                "messages": [{"role": "user", "content": prompt}],
            },
        }
        for custom_id, prompt in prompts
    ]
    ### END SOLUTION


# %%
lab07.check_to_requests(to_requests)


# %% [markdown]
# ## 2. Submit and poll
#
# Write `submit_and_wait(api, requests, poll_every_s=30.0)`: create one batch
# (`api.messages.batches.create(requests=requests)`), then retrieve it
# (`api.messages.batches.retrieve(batch_id)`) until `processing_status` is
# `"ended"`, waiting `clock.sleep(poll_every_s)` (simulated seconds) between
# looks. Return the ended batch.


# %%
def submit_and_wait(api, requests, poll_every_s=30.0):
    """Create one batch and return it once it has ended."""
    ### BEGIN SOLUTION
    batch = api.messages.batches.create(requests=requests)
    while batch.processing_status != "ended":
        clock.sleep(poll_every_s)
        batch = api.messages.batches.retrieve(batch.id)
    return batch
    ### END SOLUTION


# %%
lab07.check_submit_and_wait(submit_and_wait)


# %% [markdown]
# ## 3. Read the results
#
# Write `collect(api, batch_id)` returning `(succeeded, to_retry)`: iterate over
# `api.messages.batches.results(batch_id)`; each entry has a `custom_id` and a
# `result` whose `type` is `"succeeded"` (keep `result.message` under the
# `custom_id`), `"errored"` or `"expired"` (both go in `to_retry`).


# %%
def collect(api, batch_id):
    """({custom_id: message}, [custom_ids to resubmit]) for an ended batch."""
    ### BEGIN SOLUTION
    succeeded, to_retry = {}, []
    for entry in api.messages.batches.results(batch_id):
        if entry.result.type == "succeeded":
            succeeded[entry.custom_id] = entry.result.message
        elif entry.result.type in ("errored", "expired"):
            to_retry.append(entry.custom_id)
    return succeeded, to_retry
    ### END SOLUTION


# %%
lab07.check_collect(collect)


# %% [markdown]
# ## 4. Retry only the failures
#
# Write `run_all(api, requests, max_rounds=4)`: submit all requests, collect, then
# submit *only* the requests whose ids came back in `to_retry`, in a new batch,
# until none are left (or `max_rounds` is reached). Return `{custom_id: message}`
# for everything that succeeded.


# %%
def run_all(api, requests, max_rounds=4):
    """Every request's message, resubmitting only what errored or expired."""
    ### BEGIN SOLUTION
    by_id = {request["custom_id"]: request for request in requests}
    results, pending = {}, list(requests)
    for _ in range(max_rounds):
        if not pending:
            break
        batch = submit_and_wait(api, pending)
        succeeded, to_retry = collect(api, batch.id)
        results.update(succeeded)
        pending = [by_id[custom_id] for custom_id in to_retry]
    return results
    ### END SOLUTION


# %%
lab07.check_run_all(run_all)


# %% [markdown]
# ## 5. The savings
#
# Write `savings(messages, model)` returning `(standard_dollars, batch_dollars)`:
# the cost of the messages' usage at the standard price and at the batch price
# (`cost(message.usage, model)` and `cost(message.usage, model, batch=True)`).


# %%
def savings(messages, model):
    """(standard price, batch price) in US dollars for these messages."""
    ### BEGIN SOLUTION
    messages = list(messages)
    standard = sum(cost(message.usage, model) for message in messages)
    batch = sum(cost(message.usage, model, batch=True) for message in messages)
    return standard, batch
    ### END SOLUTION


# %%
lab07.check_savings(savings)

# %% [markdown]
# ## 6. The real run
#
# All together now: 1,000 prompts through the Batches API, the failures resubmitted,
# and the bill at both prices.

# %%
results = call_learner(run_all, api, call_learner(to_requests, PROMPTS))
batches = env.simulator.batches.list({"limit": "100"})["data"]
print(f"{len(results):,} of {len(PROMPTS):,} prompts answered, in {len(batches)} batches")
print(f"{PROMPTS[0][0]}: {results[PROMPTS[0][0]].content[0].text}")
standard, batch = call_learner(savings, results.values(), config.FAST_MODEL)
print(
    f"1,000 descriptions: ${standard:.4f} at the standard price, ${batch:.4f} in batches "
    f"-> ${standard - batch:.4f} saved ({1 - batch / standard:.0%})"
)

# %% [markdown]
# Going further: an `errored` entry whose error type is `invalid_request_error`
# fails the same way every time. Change `collect` to report those instead of
# resubmitting them (see `stream_or_queue.batch.message_batches.PERMANENT_ERRORS`).

# %% [markdown]
# ## Your checks

# %%
lab07.report()

# %% [markdown] tags=["nav"]
# <!-- generated by scripts/build_course.py: edit LESSONS there, not here -->
#
# ---
#
# ← [Lab 06 · Start, then poll](06_start_then_poll.ipynb) | [Course index](../README.md#lessons) | [Lab 08 · Durability](08_durability.ipynb) →
#
# **Lesson:** [07 · Batch at scale](../notebooks/07_batch_at_scale.ipynb), [07x · Batch at scale: going further (optional)](../notebooks/07x_batch_going_further.ipynb) · **Lab:** [07_batch_at_scale](../labs/07_batch_at_scale.ipynb)
