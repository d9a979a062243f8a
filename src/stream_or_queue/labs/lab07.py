"""Checks for lab 07: 1,000 prompts through the Message Batches API.

The learner writes five functions: turn prompts into batch requests, submit and
poll until the batch ends, read the results (keeping what succeeded, listing what
errored or expired), resubmit only the failures until everything is done, and
price it all at the standard and the batch rate. Each check runs the learner's
function against its own simulator, with faults where they matter, and compares
with what the simulator knows happened.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import anthropic

from .. import config
from ..batch.catalogue import generate_catalogue, product_prompt
from ..batch.validation import CUSTOM_ID_PATTERN
from ..llm import client as make_client
from ..llm import cost
from ..simulator import Faults, Simulator
from . import call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "check_collect",
    "check_run_all",
    "check_savings",
    "check_submit_and_wait",
    "check_to_requests",
    "hint",
    "prompts",
    "report",
]

Prompts = Sequence[tuple[str, str]]


def prompts(count: int = 1_000, *, seed: int = 7) -> list[tuple[str, str]]:
    """(custom_id, prompt) pairs: product-description prompts from a clean catalogue."""
    return [(p.id, product_prompt(p)) for p in generate_catalogue(count, seed=seed, invalid={})]


def _api(sim: Simulator) -> anthropic.Anthropic:
    return make_client(simulator=sim)


def _requests(pairs: Prompts) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": cid,
            "params": {
                "model": config.FAST_MODEL,
                "max_tokens": 200,
                "messages": [{"role": "user", "content": text}],
            },
        }
        for cid, text in pairs
    ]


def check_to_requests(to_requests: Callable[[Prompts], list[dict[str, Any]]]) -> None:
    """`to_requests(prompts)`: one `{custom_id, params}` per prompt, ready for a batch."""
    pairs = prompts(50)
    got = call_learner(to_requests, pairs)
    expect(
        isinstance(got, list) and len(got) == len(pairs),
        f"to_requests should return a list with one request per prompt ({len(pairs)}); "
        f"got {type(got).__name__} of length {len(got) if hasattr(got, '__len__') else '?'}.",
    )
    for (cid, text), request in zip(pairs, got, strict=True):
        expect(
            isinstance(request, dict) and set(request) == {"custom_id", "params"},
            "Each request is a dict with exactly two keys, 'custom_id' and 'params'; "
            f"got {request!r:.120}.",
        )
        expect(
            request["custom_id"] == cid,
            f"Use the prompt's own id as custom_id (expected {cid!r}, got "
            f"{request['custom_id']!r}): results come back in any order and custom_id is "
            "how you match them.",
        )
        expect(
            isinstance(cid, str) and CUSTOM_ID_PATTERN.fullmatch(cid) is not None,
            "custom_id must be 1-64 letters, digits, '-' or '_'.",
        )
        params = request["params"]
        expect(
            params.get("model") == config.FAST_MODEL,
            f"Bulk descriptions use the fast model: params['model'] = config.FAST_MODEL "
            f"({config.FAST_MODEL!r}); got {params.get('model')!r}.",
        )
        expect(
            isinstance(params.get("max_tokens"), int) and params["max_tokens"] >= 100,
            "params needs max_tokens (at least 100 for a 40-word description).",
        )
        expect(
            params.get("messages") == [{"role": "user", "content": text}],
            "params['messages'] must be one user message whose content is the prompt.",
        )
        expect(not params.get("stream"), "Batch requests cannot stream: leave out 'stream'.")
    passed(f"to_requests() builds {len(got)} valid batch requests keyed by custom_id.")


def check_submit_and_wait(
    submit_and_wait: Callable[..., Any],
) -> None:
    """`submit_and_wait(api, requests, poll_every_s)` creates one batch and polls until it ends."""
    sim = Simulator(seed=11)
    requests = _requests(prompts(60))
    with config.time_scale_set_to(0.001):
        batch = call_learner(submit_and_wait, _api(sim), requests, poll_every_s=30.0)
    creates = [r for r in sim.ledger if r.endpoint == "POST /v1/messages/batches"]
    polls = [
        r
        for r in sim.ledger
        if r.endpoint.startswith("GET /v1/messages/batches/")
        and not r.endpoint.endswith("/results")
    ]
    expect(
        len(creates) == 1,
        f"Expected exactly one batch to be created, saw {len(creates)}: call "
        "`api.messages.batches.create(requests=requests)` once.",
    )
    expect(
        getattr(batch, "processing_status", None) == "ended",
        "Return the batch once `processing_status == 'ended'` (the object returned by "
        f"`api.messages.batches.retrieve(...)`); got {batch!r:.100}.",
    )
    counts = batch.request_counts
    expect(
        counts.succeeded + counts.errored + counts.expired + counts.canceled == len(requests),
        "The returned batch's request_counts should cover every request: return the batch "
        "as retrieved after it ended.",
    )
    processing_s = config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S * len(requests)
    most = math.ceil(processing_s / 30.0) + 3
    expect(
        len(polls) >= 2,
        "The batch cannot have ended right after creation: poll with "
        "`api.messages.batches.retrieve(batch_id)` until it has.",
    )
    expect(
        len(polls) <= most,
        f"You polled {len(polls)} times for a batch that takes {processing_s:.0f} simulated "
        f"s: with poll_every_s=30 that should be at most {most}. Wait between polls with "
        "`clock.sleep(poll_every_s)` (simulated seconds).",
    )
    passed(f"submit_and_wait() created one batch and polled {len(polls)} times until it ended.")


def _errored_and_expired_batch(sim: Simulator, requests: list[dict[str, Any]]) -> str:
    """A batch where some entries errored and some were held back until they expired."""
    batch = _api(sim).messages.batches.create(requests=requests)  # type: ignore[arg-type]
    sim.batches.fast_forward(batch.id, config.BATCH_EXPIRY_S)  # skip to hour 24: it has ended
    return batch.id


def _outcomes(sim: Simulator, batch_id: str) -> dict[str, str]:
    return {
        entry["custom_id"]: entry["result"]["type"]
        for entry in map(json.loads, sim.batches.results(batch_id).splitlines())
    }


def check_collect(collect: Callable[..., tuple[dict[str, Any], list[str]]]) -> None:
    """`collect(api, batch_id)` -> ({custom_id: message}, [custom_ids to resubmit])."""
    sim = Simulator(seed=12, faults=Faults(batch_errored=0.05, batch_expired=0.05, seed=12))
    requests = _requests(prompts(200, seed=3))
    with config.time_scale_set_to(0.001):
        batch_id = _errored_and_expired_batch(sim, requests)
        truth = _outcomes(sim, batch_id)
        got = call_learner(collect, _api(sim), batch_id)
    kinds = collections.Counter(truth.values())
    expect(
        isinstance(got, tuple) and len(got) == 2,
        f"collect should return a tuple (succeeded, to_retry); got {type(got).__name__}.",
    )
    succeeded, to_retry = got
    expect(
        isinstance(succeeded, dict) and isinstance(to_retry, list | tuple | set),
        "Return a dict {custom_id: message} and a list of custom_ids.",
    )
    want_ok = {cid for cid, kind in truth.items() if kind == "succeeded"}
    want_retry = {cid for cid, kind in truth.items() if kind in ("errored", "expired")}
    expect(
        set(succeeded) == want_ok,
        f"The batch has {len(want_ok)} succeeded entries; your dict has {len(succeeded)} "
        "keys. Iterate over `api.messages.batches.results(batch_id)` and keep "
        "`entry.result.message` when `entry.result.type == 'succeeded'`, keyed by "
        "`entry.custom_id`.",
    )
    sample = next(iter(succeeded.values()), None)
    expect(
        sample is not None and hasattr(sample, "usage") and hasattr(sample, "content"),
        "Store the Message itself (`entry.result.message`), which carries the text and the "
        "usage you will need to price it.",
    )
    expect(
        set(to_retry) == want_retry and len(to_retry) == len(want_retry),
        f"This batch has {kinds['errored']} errored and {kinds['expired']} expired entries: "
        f"all {len(want_retry)} should be resubmitted, each once; you listed "
        f"{len(to_retry)}. Check `entry.result.type` for 'errored' and 'expired'.",
    )
    passed(
        f"collect() kept {len(succeeded)} results and listed {kinds['errored']} errored + "
        f"{kinds['expired']} expired entries to resubmit."
    )


def check_run_all(run_all: Callable[..., dict[str, Any]]) -> None:
    """`run_all(api, requests)`: every request ends with one result; only failures resubmitted."""
    sim = Simulator(seed=13, faults=Faults(batch_errored=0.03, batch_expired=0.02, seed=13))
    requests = _requests(prompts(300, seed=5))
    with config.time_scale_set_to(0.0):  # batches end at once; expired entries expire at once
        results = call_learner(run_all, _api(sim), requests)
        batch_ids = [b["id"] for b in sim.batches.list({"limit": "1000"})["data"]][::-1]
        outcomes = [_outcomes(sim, batch_id) for batch_id in batch_ids]
    ids = [r["custom_id"] for r in requests]
    expect(isinstance(results, dict), f"run_all should return a dict; got {type(results)!r}.")
    expect(
        len(batch_ids) >= 2,
        "With errored and expired entries in the first batch, a second batch is needed: "
        "resubmit the failures returned by collect() until there are none left.",
    )
    missing = sorted(set(ids) - set(results))
    expect(
        not missing,
        f"{len(missing)} requests have no result (e.g. {missing[:3]}): keep resubmitting "
        "the errored and expired ones (up to a few rounds).",
    )
    delivered: collections.Counter[str] = collections.Counter()
    failed_so_far: set[str] = set()
    for number, batch in enumerate(outcomes):
        if number > 0:
            extra = set(batch) - failed_so_far
            expect(
                not extra,
                f"Batch {number + 1} resubmitted {len(extra)} requests that had already "
                "succeeded: send only the ones that errored or expired.",
            )
        failed_so_far = (failed_so_far - set(batch)) | {
            cid for cid, kind in batch.items() if kind != "succeeded"
        }
        delivered.update(cid for cid, kind in batch.items() if kind == "succeeded")
    expect(set(delivered.values()) == {1}, "Some custom_id succeeded twice.")
    passed(
        f"run_all() finished all {len(ids)} requests in {len(batch_ids)} batches, "
        "resubmitting only the failures."
    )


def check_savings(savings: Callable[[Iterable[Any], str], tuple[float, float]]) -> None:
    """`savings(messages, model)` -> (standard_dollars, batch_dollars)."""
    sim = Simulator(seed=14)
    api = _api(sim)
    messages = [api.messages.create(**r["params"]) for r in _requests(prompts(20, seed=9))]
    standard = sum(cost(m.usage, config.FAST_MODEL) for m in messages)
    batch = sum(cost(m.usage, config.FAST_MODEL, batch=True) for m in messages)
    got = call_learner(savings, list(messages), config.FAST_MODEL)
    expect(
        isinstance(got, tuple) and len(got) == 2,
        f"savings should return (standard_dollars, batch_dollars); got {got!r:.80}.",
    )
    expect(
        math.isclose(got[0], standard, rel_tol=1e-9),
        f"Standard price of these {len(messages)} answers: ${standard:.6f}, you said "
        f"${got[0]:.6f}. Sum `cost(message.usage, model)` over the messages.",
    )
    expect(
        math.isclose(got[1], batch, rel_tol=1e-9),
        f"Batch price: ${batch:.6f}, you said ${got[1]:.6f}. Use `cost(..., batch=True)`.",
    )
    passed(
        f"savings(): ${standard:.4f} at the standard price, ${batch:.4f} in a batch "
        f"({1 - batch / standard:.0%} saved)."
    )


LAB = LabProgress(
    "lab07",
    {
        "to_requests": Help(
            hint="One entry per prompt: the custom_id you were given, and params exactly as for messages.create (model, max_tokens, messages).",
            answer="[{'custom_id': cid, 'params': {'model': config.FAST_MODEL, 'max_tokens': 200,\n  'messages': [{'role': 'user', 'content': prompt}]}} for cid, prompt in prompts]",
        ),
        "submit_and_wait": Help(
            hint="Create the batch once; then look at it again, with a simulated sleep between looks, until its processing_status says it has ended.",
            answer="batch = api.messages.batches.create(requests=requests)\nwhile batch.processing_status != 'ended':\n    clock.sleep(poll_every_s)\n    batch = api.messages.batches.retrieve(batch.id)\nreturn batch",
        ),
        "collect": Help(
            hint="Results come in any order: key them by custom_id. Errored and expired entries are worth another try; canceled ones are not.",
            answer="succeeded, to_retry = {}, []\nfor entry in api.messages.batches.results(batch_id):\n    if entry.result.type == 'succeeded':\n        succeeded[entry.custom_id] = entry.result.message\n    elif entry.result.type in ('errored', 'expired'):\n        to_retry.append(entry.custom_id)\nreturn succeeded, to_retry",
        ),
        "run_all": Help(
            hint="Resubmit only the requests whose custom_ids came back to retry, in a new batch, round after round, and stop when none are left or the rounds run out.",
            answer="by_id = {r['custom_id']: r for r in requests}\nresults, pending = {}, list(requests)\nfor _ in range(max_rounds):\n    if not pending:\n        break\n    batch = submit_and_wait(api, pending)\n    succeeded, to_retry = collect(api, batch.id)\n    results.update(succeeded)\n    pending = [by_id[c] for c in to_retry]\nreturn results",
        ),
        "savings": Help(
            hint="Price each message's usage twice, at the standard and at the batch price; read the iterable only once.",
            answer="messages = list(messages)\nstandard = sum(cost(m.usage, model) for m in messages)\nbatch = sum(cost(m.usage, model, batch=True) for m in messages)\nreturn standard, batch",
        ),
    },
)
check_to_requests = LAB.check(check_to_requests)
check_submit_and_wait = LAB.check(check_submit_and_wait)
check_collect = LAB.check(check_collect)
check_run_all = LAB.check(check_run_all)
check_savings = LAB.check(check_savings)
hint = LAB.hint
report = LAB.report
