"""Extended thinking: thinking blocks, their stream events, usage and timing, via the real SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from simulator_support import LARGE, async_client, raw_client, raw_stream_events, sync_sdk, user

from stream_or_queue import config
from stream_or_queue.simulator import Simulator, tokenize

QUESTION = "Should a research agent that takes two minutes run as a background job?"


def thinking_params(budget: int = 2048, max_tokens: int = 4000, **extra: Any) -> dict[str, Any]:
    return {
        "model": LARGE,
        "max_tokens": max_tokens,
        "thinking": {"type": "enabled", "budget_tokens": budget},
        "messages": user(QUESTION),
        **extra,
    }


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=11)


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_a_thinking_block_comes_first_and_is_billed_as_output(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        message = client.messages.create(**thinking_params())
    thinking, text = message.content
    assert thinking.type == "thinking" and text.type == "text"
    assert thinking.thinking and thinking.signature and text.text
    thought = len(tokenize(thinking.thinking))
    low, high = config.THINKING_BUDGET_USE
    assert low * 2048 - 1 <= thought <= high * 2048 + 1
    assert message.usage.output_tokens == thought + len(tokenize(text.text))
    record = sim.find(message._request_id or "")
    assert record is not None and record.thinking_tokens == thought


def test_a_bigger_budget_thinks_longer_and_takes_longer(sim: Simulator) -> None:
    with sync_sdk(sim, "inproc") as client:
        small = client.messages.create(**thinking_params(budget=1024, max_tokens=2000))
        large = client.messages.create(**thinking_params(budget=8192, max_tokens=10000))
    small_record, large_record = (
        sim.find(small._request_id or ""),
        sim.find(large._request_id or ""),
    )
    assert small_record is not None and large_record is not None
    assert large_record.thinking_tokens > small_record.thinking_tokens
    profile = config.TIMING[LARGE]
    fastest = profile.tokens_per_s * (1 + profile.speed_jitter)
    for record in (small_record, large_record):
        writing = record.scheduled_total_s - record.scheduled_ttft_s
        assert writing >= (record.planned_output_tokens - 1) / fastest - 1e-9
    assert large_record.scheduled_total_s > small_record.scheduled_total_s


def test_the_stream_sends_thinking_deltas_then_a_signature_then_text(sim: Simulator) -> None:
    events = raw_stream_events(raw_client(sim).post, thinking_params())
    names = [(name, data.get("delta", {}).get("type")) for name, data in events]
    start = events[1][1]
    assert start["index"] == 0
    assert start["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    stop_first = names.index(("content_block_stop", None))
    first_block = names[2:stop_first]
    kinds = [kind for name, kind in first_block if name == "content_block_delta"]
    assert kinds[-1] == "signature_delta" and set(kinds[:-1]) == {"thinking_delta"}
    text_deltas = [d for n, d in events[stop_first:] if n == "content_block_delta"]
    assert text_deltas and all(d["index"] == 1 for d in text_deltas)
    assert all(d["delta"]["type"] == "text_delta" for d in text_deltas)
    final = next(d for n, d in events if n == "message_delta")
    assert final["usage"]["output_tokens"] == len(kinds) - 1 + len(text_deltas)


@pytest.mark.anyio
async def test_the_sdk_stream_yields_thinking_and_signature_events(sim: Simulator) -> None:
    thought, signatures, text = "", [], ""
    async with (
        async_client(sim) as client,
        client.messages.stream(**thinking_params()) as stream,
    ):
        async for event in stream:
            if event.type == "thinking":
                assert not text, "thinking arrives before the answer"
                thought += event.thinking
            elif event.type == "signature":
                signatures.append(event.signature)
            elif event.type == "text":
                text += event.text
        final = await stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].thinking == thought
    assert signatures == [final.content[0].signature]
    assert final.content[1].type == "text" and final.content[1].text == text


def test_thinking_blocks_go_back_in_the_next_turn(sim: Simulator) -> None:
    with sync_sdk(sim, "inproc") as client:
        first = client.messages.create(**thinking_params())
        follow = client.messages.create(
            **thinking_params(
                messages=[
                    *user(QUESTION),
                    {"role": "assistant", "content": first.content},
                    {"role": "user", "content": "And what should the page show meanwhile?"},
                ]
            )
        )
    assert [b.type for b in follow.content] == ["thinking", "text"]


def test_a_batch_request_may_think(sim: Simulator) -> None:
    with sync_sdk(sim, "inproc") as client:
        batch = client.messages.batches.create(
            requests=[{"custom_id": "deep-1", "params": thinking_params()}]  # type: ignore[typeddict-item]
        )
        sim.batches.fast_forward(batch.id, sim.batches.get(batch.id).processing_s + 1)
        [entry] = list(client.messages.batches.results(batch.id))
    assert entry.result.type == "succeeded"
    message = entry.result.message
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.usage.service_tier == "batch"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "greater than or equal to 1024"),
        ({"max_tokens": 2048}, "`max_tokens` must be greater than `thinking.budget_tokens`"),
        ({"thinking": {"type": "enabled"}}, "budget_tokens: Field required"),
        ({"thinking": {"type": "sometimes"}}, "type 'enabled' or 'disabled'"),
        ({"extra_body": {"temperature": 0.2}}, "`temperature` may only be set to 1"),
        (
            {
                "tools": [{"name": "search", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any"},
            },
            "tool_choice forces tool use",
        ),
        ({"extra_body": {"thinking": "yes"}}, "thinking: must be an object with type 'enabled'"),
        (
            {"thinking": {"type": "enabled", "budget_tokens": "2048"}},
            "thinking.enabled.budget_tokens: Input should be a valid integer",
        ),
        (
            {
                "messages": [
                    *user(QUESTION),
                    {"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]},
                    *user("And then?"),
                ]
            },
            "messages.1.content.0.thinking.signature: Field required",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "thinking", "thinking": "x", "signature": "s"}],
                    },
                ]
            },
            "messages.0.content.0: thinking blocks are only allowed in assistant messages",
        ),
    ],
)
def test_bad_thinking_requests_get_the_apis_400(
    sim: Simulator, change: dict[str, Any], message: str
) -> None:
    with sync_sdk(sim, "inproc") as client, pytest.raises(anthropic.BadRequestError) as error:
        client.messages.create(**{**thinking_params(), **change})
    assert message in str(error.value)


def test_counting_tokens_checks_thinking_too(sim: Simulator) -> None:
    with sync_sdk(sim, "inproc") as client:
        counted = client.messages.count_tokens(
            model=LARGE, messages=user(QUESTION), thinking=thinking_params()["thinking"]
        )
        assert counted.input_tokens > 0
        with pytest.raises(anthropic.BadRequestError, match="greater than or equal to 1024"):
            client.messages.count_tokens(
                model=LARGE, messages=user(QUESTION), thinking=thinking_params(8)["thinking"]
            )


def test_disabled_thinking_changes_nothing(sim: Simulator) -> None:
    with sync_sdk(sim, "inproc") as client:
        plain = client.messages.create(model=LARGE, max_tokens=400, messages=user(QUESTION))
        off = client.messages.create(
            model=LARGE, max_tokens=400, messages=user(QUESTION), thinking={"type": "disabled"}
        )
    assert [b.type for b in plain.content] == [b.type for b in off.content] == ["text"]
