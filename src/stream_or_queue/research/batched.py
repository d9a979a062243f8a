"""v3: send the parts nobody is waiting for through the Message Batches API.

Once the research is a background job, nobody watches it being typed, and two
parts of it can wait for a batch (half the price, results within minutes here,
within hours at worst in production):

1. **Digests of the library** (`prepare_digests`): a short summary of every
   document, made ahead of time - a nightly batch on the small model. The agent
   then reads a digest instead of the full text, so every later turn of its
   conversation is smaller. The cost is shared by every question asked until the
   library changes.
2. **Writing the answer** (`run_research_v3`): the agent gathers material live
   (tool use needs an answer per turn) on the small model, then the four
   paragraphs are written by the large model through a one-request batch.

Each part is a named step (`write-submit`, `write-collect`), so a job that crashes
while the batch is processing resumes by polling the same batch, not by paying
for a new one. A batch request that errors or expires falls back to the live
API: slower to notice, never lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
import redis

from .. import clock, config
from ..llm import client as make_client
from .agent import NoCheckpoints, StepRunner, check_question, gather
from .corpus import CORPUS
from .result import CallUsage, ProgressCallback, ResearchResult, ResearchTrace, sources_of

__all__ = [
    "DIGESTS_KEY",
    "WRITE_INSTRUCTION",
    "DigestSet",
    "collect_batch",
    "digest_requests",
    "load_digests",
    "prepare_digests",
    "run_research_v3",
    "save_digests",
    "write_params",
]

DIGESTS_KEY = "soq:research:digests"
"""Redis hash: document id -> digest (what a nightly batch leaves for every worker)."""

WRITE_SYSTEM = "You are a research writer. Answer from the material gathered, citing [doc-N]."
WRITE_INSTRUCTION = (
    "That is all the material. Now write the answer to the question in four paragraphs, "
    "citing the documents you used as [doc-N]."
)
WRITE_MAX_TOKENS = 1024
DIGEST_MAX_TOKENS = 160


# --- batches: submit, wait, collect ----------------------------------------------------


def collect_batch(
    client: anthropic.Anthropic,
    batch_id: str,
    *,
    poll_s: float = config.RESEARCH_BATCH_POLL_S,
    max_wait_s: float = config.BATCH_EXPIRY_S + 3600.0,
) -> dict[str, dict[str, Any]]:
    """Wait until the batch has ended, then return {custom_id: result as JSON data}."""
    waited = 0.0
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            break
        if waited >= max_wait_s:
            raise TimeoutError(f"batch {batch_id} had not ended after {waited:.0f} simulated s")
        clock.sleep(poll_s)
        waited += poll_s
    return {
        entry.custom_id: entry.result.model_dump(mode="json")
        for entry in client.messages.batches.results(batch_id)
    }


def _usage_of(message: Mapping[str, Any]) -> tuple[int, int]:
    usage = message.get("usage") or {}
    return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))


def _text_of(message: Mapping[str, Any]) -> str:
    return "".join(b.get("text", "") for b in message.get("content", []) if b.get("type") == "text")


# --- 1. digests of the library (the nightly batch) ------------------------------------------


@dataclass(frozen=True)
class DigestSet:
    """Digests by document id, with what the batch that made them cost."""

    digests: dict[str, str]
    usage: list[CallUsage] = field(default_factory=list)
    batch_id: str = ""

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.usage)


def digest_requests(model: str = config.FAST_MODEL) -> list[dict[str, Any]]:
    """One batch request per document of the corpus (custom_id = document id)."""
    return [
        {
            "custom_id": doc.id,
            "params": {
                "model": model,
                "max_tokens": DIGEST_MAX_TOKENS,
                "messages": [
                    {
                        "role": "user",
                        "content": "Summarise this note in two or three sentences for a research "
                        f"assistant.\n\nNote: {doc.text}",
                    }
                ],
            },
        }
        for doc in CORPUS
    ]


def prepare_digests(
    client: anthropic.Anthropic | None = None,
    *,
    model: str = config.FAST_MODEL,
    poll_s: float = 30.0,
) -> DigestSet:
    """Digest every document in one batch (at the batch price) and wait for the results.

    A document whose request did not succeed simply has no digest: the agent reads
    its full text instead.
    """
    client = client or make_client()
    batch = client.messages.batches.create(requests=digest_requests(model))  # type: ignore[arg-type]
    results = collect_batch(client, batch.id, poll_s=poll_s)
    digests: dict[str, str] = {}
    usage: list[CallUsage] = []
    for index, doc in enumerate(CORPUS):
        result = results.get(doc.id, {})
        if result.get("type") != "succeeded":
            continue
        message = result["message"]
        digests[doc.id] = _text_of(message).removeprefix("Summary: ").strip()
        tokens_in, tokens_out = _usage_of(message)
        usage.append(CallUsage(index, "digest", model, tokens_in, tokens_out, batch=True))
    return DigestSet(digests, usage, batch.id)


def save_digests(digests: Mapping[str, str], connection: redis.Redis) -> None:
    """Store the digests where every worker finds them (replacing older ones)."""
    with connection.pipeline() as pipe:
        pipe.delete(DIGESTS_KEY)
        if digests:
            mapping: dict[str | bytes, str | bytes] = dict(digests.items())
            pipe.hset(DIGESTS_KEY, mapping=mapping)  # type: ignore[arg-type]
        pipe.execute()


def load_digests(connection: redis.Redis) -> dict[str, str]:
    """The stored digests ({} when no nightly batch has run yet)."""
    raw: Any = connection.hgetall(DIGESTS_KEY)
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in raw.items()
    }


# --- 2. gather live, write in a batch --------------------------------------------------------


def write_params(messages: list[dict[str, Any]], model: str = config.LARGE_MODEL) -> dict[str, Any]:
    """The request that writes the answer from a gathered conversation.

    The conversation ends with the tool results of the last tool call; the
    instruction to write is added to that same user turn. The tools stay declared
    (the conversation contains tool calls) but `tool_choice: none` forbids new ones.
    """
    from .tools import TOOLS

    if not messages or messages[-1]["role"] != "user":
        raise ValueError("the gathered conversation must end with the user's tool results")
    last = messages[-1]
    content = last["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    closing = {"role": "user", "content": [*blocks, {"type": "text", "text": WRITE_INSTRUCTION}]}
    return {
        "model": model,
        "max_tokens": WRITE_MAX_TOKENS,
        "system": WRITE_SYSTEM,
        "tools": TOOLS,
        "tool_choice": {"type": "none"},
        "messages": [*messages[:-1], closing],
    }


def _custom_id(params: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    return f"write-{digest[:24]}"


def _submit(client: anthropic.Anthropic, params: dict[str, Any]) -> dict[str, Any]:
    custom_id = _custom_id(params)
    batch = client.messages.batches.create(
        requests=[{"custom_id": custom_id, "params": params}]  # type: ignore[typeddict-item]
    )
    return {"batch_id": batch.id, "custom_id": custom_id}


ADOPT_SCAN = 20
"""How many of the newest batches a retried submit looks through for the one it made."""


def _intent(client: anthropic.Anthropic, params: dict[str, Any]) -> dict[str, Any]:
    """Step 1 of a keyed submit: remember the newest batch *before* creating ours.

    A process can die after the API created the batch and before the engine recorded
    its id: a plain "create" step would then run again and pay for a second batch.
    With this marker recorded first, the retried submit knows ours, if it exists, is
    among the batches newer than the marker.
    """
    newest = client.messages.batches.list(limit=1).data
    return {"custom_id": _custom_id(params), "after": newest[0].id if newest else ""}


def _find_or_submit(
    client: anthropic.Anthropic, intent: Mapping[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Step 2: adopt a one-request batch created since the marker, else create one.

    The Batches API has no idempotency key, so adoption is checked when the results
    come back: if the adopted batch has no result under our `custom_id` (someone
    else's batch), `_collect` falls back to one live request - a price, never a
    wrong answer.
    """
    for batch in client.messages.batches.list(limit=ADOPT_SCAN).data:  # newest first
        if batch.id == intent["after"]:
            break
        counts = batch.request_counts
        total = (
            counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
        )
        if total == 1 and batch.processing_status != "canceling":
            return {"batch_id": batch.id, "custom_id": intent["custom_id"], "adopted": True}
    return _submit(client, params)


def _collect(
    client: anthropic.Anthropic, submitted: Mapping[str, Any], params: dict[str, Any], poll_s: float
) -> dict[str, Any]:
    results = collect_batch(client, str(submitted["batch_id"]), poll_s=poll_s)
    result = results.get(str(submitted["custom_id"]), {})
    if result.get("type") == "succeeded":
        return {"message": result["message"], "batch": True, "fallback": ""}
    # errored, expired or canceled: the job can afford the live price once
    message = client.messages.create(**params)
    return {
        "message": message.model_dump(mode="json"),
        "batch": False,
        "fallback": str(result.get("type", "missing")),
    }


def _write_live(client: anthropic.Anthropic, params: dict[str, Any]) -> dict[str, Any]:
    message = client.messages.create(**params)
    return {"message": message.model_dump(mode="json"), "batch": False, "fallback": ""}


def _step(steps: StepRunner, trace: ResearchTrace, name: str, fn: Any, *args: Any) -> Any:
    """Run a named step, noting whether it ran now or came from a checkpoint."""
    ran: list[bool] = []

    def body() -> Any:
        ran.append(True)
        return fn(*args)

    value = steps.step(name, body)
    (trace.executed if ran else trace.replayed).append(name)
    return value


def run_research_v3(
    question: str,
    *,
    client: anthropic.Anthropic | None = None,
    progress: ProgressCallback | None = None,
    steps: StepRunner | None = None,
    digests: Mapping[str, str] | None = None,
    gather_model: str = config.FAST_MODEL,
    write_model: str = config.LARGE_MODEL,
    poll_s: float = config.RESEARCH_BATCH_POLL_S,
    trace: ResearchTrace | None = None,
    write_in_batch: bool = True,
) -> ResearchResult:
    """v3: gather live on `gather_model` (reading `digests` when given), write in a batch.

    `write_in_batch=False` writes the answer with a live request instead (to
    measure what the batch alone saves).
    """
    question = check_question(question)
    client = client or make_client()
    steps = steps or NoCheckpoints()
    watch = clock.Stopwatch()
    messages, trace = gather(
        question,
        client=client,
        progress=progress,
        model=gather_model,
        steps=steps,
        digests=digests,
        trace=trace,
    )
    if progress is not None:
        progress(
            {
                "step": "writing",
                "percent": 90,
                "message": "Writing the answer (Batches API: half price, takes a few minutes)",
            }
        )
    params = write_params(messages, write_model)
    if write_in_batch:
        intent = _step(steps, trace, "write-intent", _intent, client, params)
        submitted = _step(steps, trace, "write-submit", _find_or_submit, client, intent, params)
        collected = _step(
            steps, trace, "write-collect", _collect, client, submitted, params, poll_s
        )
    else:
        collected = _step(steps, trace, "write-live", _write_live, client, params)
    message = collected["message"]
    tokens_in, tokens_out = _usage_of(message)
    trace.usage.append(
        CallUsage(
            len(trace.usage),
            "write",
            write_model,
            tokens_in,
            tokens_out,
            batch=bool(collected["batch"]),
        )
    )
    trace.answer = _text_of(message)
    result = ResearchResult(
        question=question,
        answer=trace.answer,
        sources=sources_of(trace.answer),
        tool_calls=list(trace.tool_calls),
        usage=list(trace.usage),
        duration_s=watch.elapsed,
        version="v3",
        executed_steps=list(trace.executed),
        replayed_steps=list(trace.replayed),
    )
    if progress is not None:
        progress(
            {
                "step": "done",
                "percent": 100,
                "message": f"Answer ready with {len(result.sources)} sources",
            }
        )
    return result
