"""A synchronous acknowledgement that wraps an asynchronous AI step."""

from __future__ import annotations

import pytest
import redis
from support import wait_until

from stream_or_queue.jobs import ThreadWorker, get_queue
from stream_or_queue.regulated import TradeOrder, confirm_trade, trade_record
from stream_or_queue.simulator import Simulator

ORDER = {"account": "A-1", "symbol": "acme", "side": "BUY", "quantity": 100, "limit_price": "12.50"}


def test_acknowledges_before_the_ai_step_runs(
    fake_redis: redis.Redis, simulator: Simulator
) -> None:
    ack = confirm_trade(ORDER)
    assert ack.status == "acknowledged"
    assert ack.confirmation_id.startswith("tc_") and len(ack.confirmation_id) >= 16
    record = trade_record(ack.confirmation_id)
    assert record["order"]["symbol"] == "ACME" and record["order"]["side"] == "buy"
    assert record["commentary"] is None  # nothing ran yet: no worker
    assert get_queue("regulated").count == 1


def test_worker_fills_in_the_commentary(fake_redis: redis.Redis, simulator: Simulator) -> None:
    ack = confirm_trade(ORDER)
    with ThreadWorker(["regulated"]):
        wait_until(
            lambda: trade_record(ack.confirmation_id)["commentary"] is not None,
            20,
            "the commentary job to finish",
        )
    commentary = trade_record(ack.confirmation_id)["commentary"]
    assert len(commentary.split()) > 100


def test_confirmation_ids_are_unguessable(fake_redis: redis.Redis) -> None:
    ids = {confirm_trade(ORDER).confirmation_id for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"side": "hold"}, "side"),
        ({"quantity": 0}, "quantity"),
        ({"limit_price": "-1"}, "limit_price"),
        ({"limit_price": "abc"}, "malformed"),
        ({"symbol": "TOO-LONG-SYMBOL"}, "symbol"),
        ({"account": " "}, "account"),
    ],
)
def test_bad_orders_are_refused_and_nothing_is_queued(
    fake_redis: redis.Redis, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        confirm_trade({**ORDER, **change})
    assert get_queue("regulated").count == 0


def test_missing_field_is_named() -> None:
    order = dict(ORDER)
    del order["quantity"]
    with pytest.raises(ValueError, match="quantity"):
        TradeOrder.parse(order)


def test_unknown_confirmation_id(fake_redis: redis.Redis) -> None:
    with pytest.raises(KeyError, match="no trade"):
        trade_record("tc_nope")
