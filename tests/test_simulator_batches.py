"""The Message Batches API through the real SDK: lifecycle, cancel, expiry, results, rules.

Batches age with simulated time; `sim.batches.fast_forward` moves a batch's clock
so that a test can reach "ended" (or the 24-hour expiry) without waiting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.types.messages.batch_create_params import Request
from simulator_support import (
    HEADERS,
    MODEL,
    async_client,
    error_json,
    raw_client,
    sync_client,
    sync_sdk,
    user,
)
from support import wait_until

from stream_or_queue import config, cost
from stream_or_queue.simulator import Faults, RunningServer, Simulator, serve_in_thread
from stream_or_queue.simulator.batches import CANCEL_DRAIN_S

COUNT_KEYS = ("processing", "succeeded", "errored", "canceled", "expired")


def requests(n: int, prefix: str = "item") -> list[Request]:
    return [
        {
            "custom_id": f"{prefix}-{i}",
            "params": {
                "model": MODEL,
                "max_tokens": 200,
                "messages": user(f"Write a product description.\nName: Lamp {i}\nFor: reading"),
            },
        }
        for i in range(n)
    ]


def counts(batch: Any) -> dict[str, int]:
    return {key: getattr(batch.request_counts, key) for key in COUNT_KEYS}


def finish(sim: Simulator, batch_id: str) -> None:
    """Move the batch's clock past its processing time."""
    batch = sim.batches.get(batch_id)
    sim.batches.fast_forward(batch_id, batch.processing_s + 1)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=6)


@pytest.fixture
def server(sim: Simulator) -> Iterator[RunningServer]:
    with serve_in_thread(sim) as running:
        yield running


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_lifecycle_create_poll_end_results(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        batch = client.messages.batches.create(requests=requests(12))
        assert batch.type == "message_batch" and batch.id.startswith("msgbatch_")
        assert batch.processing_status == "in_progress"
        assert batch.results_url is None and batch.ended_at is None
        # counts stay "processing" until the whole batch has ended (real semantics)
        assert counts(batch) == {
            "processing": 12,
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        assert (batch.expires_at - batch.created_at).total_seconds() == config.BATCH_EXPIRY_S

        stored = sim.batches.get(batch.id)
        sim.batches.fast_forward(batch.id, (stored.start_s + stored.processing_s) / 2)
        halfway = client.messages.batches.retrieve(batch.id)
        assert halfway.processing_status == "in_progress"
        assert sum(counts(halfway).values()) == 12 and halfway.request_counts.processing == 12
        assert 0 < sim.batches.progress(batch.id) < 1

        finish(sim, batch.id)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and ended.ended_at is not None
        assert counts(ended) == {
            "processing": 0,
            "succeeded": 12,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        assert ended.results_url and ended.results_url.endswith(f"/{batch.id}/results")
        results = list(client.messages.batches.results(batch.id))
    assert sim.batches.progress(batch.id) == 1.0
    by_id = {r.custom_id: r for r in results}
    assert sorted(by_id) == sorted(f"item-{i}" for i in range(12))
    assert [r.custom_id for r in results] != [f"item-{i}" for i in range(12)], "any order"
    for i in range(12):
        result = by_id[f"item-{i}"].result
        assert result.type == "succeeded"
        assert f"Lamp {i}" in result.message.content[0].text  # type: ignore[union-attr]
        assert result.message.usage.service_tier == "batch"


@pytest.mark.anyio
async def test_lifecycle_async(sim: Simulator) -> None:
    async with async_client(sim) as client:
        batch = await client.messages.batches.create(requests=requests(3))
        finish(sim, batch.id)
        ended = await client.messages.batches.retrieve(batch.id)
        results = [r async for r in await client.messages.batches.results(batch.id)]
        listed = await client.messages.batches.list(limit=5)
        deleted = await client.messages.batches.delete(batch.id)
    assert ended.processing_status == "ended"
    assert {r.custom_id for r in results} == {"item-0", "item-1", "item-2"}
    assert [b.id for b in listed.data] == [batch.id]
    assert deleted.type == "message_batch_deleted"


def test_batch_results_cost_half_of_the_same_calls(sim: Simulator) -> None:
    with sync_client(sim) as client:
        batch = client.messages.batches.create(requests=requests(4))
        finish(sim, batch.id)
        results = list(client.messages.batches.results(batch.id))
    for item in results:
        assert item.result.type == "succeeded"
        usage = item.result.message.usage
        assert cost(usage, MODEL, batch=True) == pytest.approx(cost(usage, MODEL) * 0.5)


def test_time_scale_zero_processes_a_batch_at_once(sim: Simulator) -> None:
    with config.time_scale_set_to(0), sync_client(sim) as client:
        batch = client.messages.batches.create(requests=requests(5))
    assert batch.processing_status == "ended"
    assert batch.request_counts.succeeded == 5


def test_batch_ends_by_itself_as_simulated_time_passes(sim: Simulator) -> None:
    """No fast-forward: at a tiny time scale the batch finishes within a bounded wait."""
    with config.time_scale_set_to(0.0005), sync_client(sim) as client:
        batch = client.messages.batches.create(requests=requests(2))
        assert batch.processing_status == "in_progress"
        wait_until(
            lambda: client.messages.batches.retrieve(batch.id).processing_status == "ended",
            30,
            "the batch to end by itself",
        )


# --- cancel ---------------------------------------------------------------------------------


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_cancel_keeps_what_was_done_and_cancels_the_rest(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        batch = client.messages.batches.create(requests=requests(20))
        stored = sim.batches.get(batch.id)
        sim.batches.fast_forward(
            batch.id, stored.start_s + (stored.processing_s - stored.start_s) / 2
        )
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling"
        assert canceling.cancel_initiated_at is not None
        assert counts(canceling)["processing"] == 20
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.delete(batch.id)  # not ended yet
        sim.batches.fast_forward(batch.id, CANCEL_DRAIN_S)
        ended = client.messages.batches.retrieve(batch.id)
        results = list(client.messages.batches.results(batch.id))
    assert ended.processing_status == "ended"
    final = counts(ended)
    assert sum(final.values()) == 20 and final["processing"] == 0
    assert final["succeeded"] > 0 and final["canceled"] > 0
    assert final["succeeded"] + final["canceled"] == 20
    kinds = {r.custom_id: r.result.type for r in results}
    assert sum(kind == "canceled" for kind in kinds.values()) == final["canceled"]
    # processing goes in submission order: the first requests are the finished ones
    done = sorted(int(cid.split("-")[1]) for cid, kind in kinds.items() if kind == "succeeded")
    assert done == list(range(len(done)))


def test_cancel_before_processing_starts_cancels_everything(sim: Simulator) -> None:
    with sync_client(sim) as client:
        batch = client.messages.batches.create(requests=requests(5))
        client.messages.batches.cancel(batch.id)
        sim.batches.fast_forward(batch.id, CANCEL_DRAIN_S)
        ended = client.messages.batches.retrieve(batch.id)
        again = client.messages.batches.cancel(batch.id)  # cancelling an ended batch is a no-op
    assert counts(ended)["canceled"] == 5
    assert again.processing_status == "ended" and counts(again) == counts(ended)


# --- expiry and per-request failures ------------------------------------------------------------


def test_held_requests_expire_after_24_hours(sim: Simulator) -> None:
    faults = Faults(batch_expired=0.3, seed=2)
    with sync_client(sim, faults=faults) as client:
        batch = client.messages.batches.create(requests=requests(20))
        finish(sim, batch.id)
        still = client.messages.batches.retrieve(batch.id)
        assert still.processing_status == "in_progress", "held requests keep the batch open"
        sim.batches.fast_forward(batch.id, config.BATCH_EXPIRY_S)
        ended = client.messages.batches.retrieve(batch.id)
        results = list(client.messages.batches.results(batch.id))
    assert ended.processing_status == "ended"
    assert ended.ended_at == ended.expires_at
    final = counts(ended)
    assert final["expired"] > 0 and final["succeeded"] > 0
    assert final["expired"] + final["succeeded"] == 20
    assert sorted(r.result.type for r in results).count("expired") == final["expired"]


def test_errored_requests_report_their_error(sim: Simulator) -> None:
    items = requests(30)
    items[3]["params"]["model"] = "claude-unknown-9"
    items[4]["params"]["messages"] = []
    items[5]["params"]["stream"] = True  # type: ignore[typeddict-item]  # refused on purpose
    with sync_client(sim, faults=Faults(batch_errored=0.2, seed=1)) as client:
        batch = client.messages.batches.create(requests=items)  # accepted: params checked later
        finish(sim, batch.id)
        ended = client.messages.batches.retrieve(batch.id)
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    final = counts(ended)
    assert final["errored"] >= 3 and final["errored"] + final["succeeded"] == 30
    unknown, empty, streamed = results["item-3"], results["item-4"], results["item-5"]
    assert unknown.type == "errored" and unknown.error.error.type == "not_found_error"
    assert empty.type == "errored" and empty.error.error.type == "invalid_request_error"
    assert streamed.type == "errored" and streamed.error.error.type == "invalid_request_error"
    injected = [
        r
        for cid, r in results.items()
        if r.type == "errored" and cid not in ("item-3", "item-4", "item-5")
    ]
    assert injected and all(r.error.error.type == "api_error" for r in injected)


def test_a_batch_gets_the_same_id_and_outcomes_however_many_live_calls_came_first() -> None:
    def errored_after(live_calls: int) -> tuple[str, set[str]]:
        sim = Simulator(seed=6)
        with sync_client(sim, faults=Faults(batch_errored=0.2, seed=1)) as client:
            for _ in range(live_calls):
                client.messages.create(model=MODEL, max_tokens=20, messages=user("Hello"))
            batch = client.messages.batches.create(requests=requests(30))
            finish(sim, batch.id)
            failed = {
                r.custom_id
                for r in client.messages.batches.results(batch.id)
                if r.result.type == "errored"
            }
        return batch.id, failed

    alone = errored_after(0)
    assert alone[1], "the faults should make some requests error"
    assert errored_after(3) == alone


# --- delete, list, not found -------------------------------------------------------------------


def test_delete_only_when_ended_then_gone(sim: Simulator) -> None:
    with sync_client(sim) as client:
        batch = client.messages.batches.create(requests=requests(2))
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.batches.delete(batch.id)
        assert error_json(refused.value)["error"]["type"] == "invalid_request_error"
        with raw_client(sim) as http:  # the SDK itself refuses before asking: ask raw
            early = http.get(f"/v1/messages/batches/{batch.id}/results", headers=HEADERS)
        assert early.status_code == 400
        assert early.json()["error"]["type"] == "invalid_request_error"
        finish(sim, batch.id)
        deleted = client.messages.batches.delete(batch.id)
        assert deleted.id == batch.id
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.delete(batch.id)
        assert client.messages.batches.list().data == []


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_list_pages_most_recent_first(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        created = [client.messages.batches.create(requests=requests(1)).id for _ in range(5)]
        first = client.messages.batches.list(limit=2)
        assert [b.id for b in first.data] == created[::-1][:2]
        assert first.has_more and first.first_id == created[4] and first.last_id == created[3]
        every = [b.id for b in client.messages.batches.list(limit=2)]  # auto-pagination
        assert every == created[::-1]
        after = client.messages.batches.list(limit=10, after_id=created[2])
        assert [b.id for b in after.data] == [created[1], created[0]] and not after.has_more
        before = client.messages.batches.list(limit=1, before_id=created[2])
        assert [b.id for b in before.data] == [created[3]] and before.has_more
        client.messages.batches.retrieve(created[0])


def test_unknown_batch_is_404(sim: Simulator) -> None:
    with sync_client(sim) as client:
        with pytest.raises(anthropic.NotFoundError) as missing:
            client.messages.batches.retrieve("msgbatch_doesnotexist")
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.cancel("msgbatch_doesnotexist")
    assert error_json(missing.value)["error"]["type"] == "not_found_error"


# --- the envelope rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "custom_id",
    ["", "x" * 65, "has space", "dots.are.not.allowed", "émoji", "slash/id"],
)
def test_invalid_custom_id_is_400(sim: Simulator, custom_id: str) -> None:
    items = requests(2)
    items[1]["custom_id"] = custom_id
    with sync_client(sim) as client, pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.batches.create(requests=items)
    assert error_json(refused.value)["error"]["type"] == "invalid_request_error"
    assert "custom_id" in refused.value.message
    assert sim.batches.list({})["data"] == [], "a refused batch is not stored"


def test_custom_id_limits_are_inclusive(sim: Simulator) -> None:
    items = requests(2)
    items[0]["custom_id"], items[1]["custom_id"] = "a", "A_b-9" * 12 + "abcd"
    assert len(items[1]["custom_id"]) == 64
    with sync_client(sim) as client:
        assert client.messages.batches.create(requests=items).request_counts.processing == 2


def test_duplicate_custom_id_is_400(sim: Simulator) -> None:
    items = requests(3)
    items[2]["custom_id"] = items[0]["custom_id"]
    with sync_client(sim) as client, pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.batches.create(requests=items)
    assert "duplicate" in refused.value.message


def test_empty_batch_is_400(sim: Simulator) -> None:
    with sync_client(sim) as client, pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=[])


def test_more_than_100000_requests_is_400(sim: Simulator) -> None:
    """Sent raw: the cap is checked before anything else, so the items can be tiny."""
    item = '{"custom_id":"r%d","params":{}}'
    body = (
        '{"requests":[' + ",".join(item % i for i in range(config.BATCH_MAX_REQUESTS + 1)) + "]}"
    ).encode()
    with raw_client(sim) as http:
        response = http.post("/v1/messages/batches", content=body, headers=HEADERS)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "100,000" in error["message"]


@pytest.mark.slow
def test_exactly_100000_requests_are_accepted(sim: Simulator) -> None:
    params = json.dumps({"model": MODEL, "max_tokens": 5, "messages": user("hi")})
    item = '{"custom_id":"r%d","params":' + params + "}"
    body = (
        '{"requests":[' + ",".join(item % i for i in range(config.BATCH_MAX_REQUESTS)) + "]}"
    ).encode()
    with config.time_scale_set_to(0), raw_client(sim) as http:
        response = http.post("/v1/messages/batches", content=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["request_counts"]["succeeded"] == config.BATCH_MAX_REQUESTS
