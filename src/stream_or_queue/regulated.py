"""A synchronous acknowledgement wrapping asynchronous AI work.

Some flows must answer at once by rule (a trade confirmation, a claim receipt),
but the AI part of them need not. The acknowledgement records the request
durably and returns an id in milliseconds; the AI step runs as a queued job and
fills in its result later. The rule is met without holding a request open.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from rq import get_current_job

from . import config
from .jobs import get_queue, get_redis
from .llm import client

__all__ = ["Acknowledgement", "TradeOrder", "confirm_trade", "trade_commentary_job", "trade_record"]

_KEY = "soq:trades:{}"
SIDES = ("buy", "sell")


@dataclass(frozen=True)
class TradeOrder:
    account: str
    symbol: str
    side: str
    quantity: int
    limit_price: Decimal

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TradeOrder:
        """Validate an order, naming the first field that is wrong."""
        try:
            account = str(data["account"]).strip()
            symbol = str(data["symbol"]).strip().upper()
            side = str(data["side"]).strip().lower()
            quantity = int(data["quantity"])
            price = Decimal(str(data["limit_price"]))
        except KeyError as missing:
            raise ValueError(f"trade order is missing {missing.args[0]!r}") from None
        except (TypeError, ValueError, InvalidOperation) as bad:
            raise ValueError(f"trade order has a malformed field: {bad}") from None
        if not account:
            raise ValueError("account must not be empty")
        if not symbol.isalnum() or not 1 <= len(symbol) <= 6:
            raise ValueError(f"symbol must be 1-6 letters or digits, got {symbol!r}")
        if side not in SIDES:
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if quantity <= 0:
            raise ValueError(f"quantity must be positive, got {quantity}")
        if price <= 0:
            raise ValueError(f"limit_price must be positive, got {price}")
        return cls(account, symbol, side, quantity, price)


@dataclass(frozen=True)
class Acknowledgement:
    confirmation_id: str
    job_id: str
    status: str


def confirm_trade(order: dict[str, Any], *, queue_name: str = "regulated") -> Acknowledgement:
    """Validate, record durably, enqueue the AI commentary, acknowledge: all in milliseconds."""
    trade = TradeOrder.parse(order)
    confirmation_id = "tc_" + secrets.token_urlsafe(12)
    record = {
        "order": {**trade.__dict__, "limit_price": str(trade.limit_price)},
        "acknowledged_at": time.time(),
        "commentary": None,
    }
    get_redis().set(_KEY.format(confirmation_id), json.dumps(record))
    job = get_queue(queue_name).enqueue(
        trade_commentary_job, confirmation_id, job_id=f"commentary-{confirmation_id}"
    )
    return Acknowledgement(confirmation_id, job.id, "acknowledged")


def trade_record(confirmation_id: str) -> dict[str, Any]:
    raw = get_redis().get(_KEY.format(confirmation_id))
    if raw is None:
        raise KeyError(f"no trade with confirmation id {confirmation_id!r}")
    return dict(json.loads(raw))


def trade_commentary_job(confirmation_id: str) -> str:
    """The slow AI step: a compliance commentary written by the large model."""
    record = trade_record(confirmation_id)
    order = record["order"]
    prompt = (
        "Write a detailed compliance commentary (about a 400-word memo) on this trade: "
        f"{order['side']} {order['quantity']} {order['symbol']} at {order['limit_price']} "
        f"for account {order['account']}."
    )
    message = client().messages.create(
        model=config.LARGE_MODEL, max_tokens=1024, messages=[{"role": "user", "content": prompt}]
    )
    text = "".join(b.text for b in message.content if b.type == "text")
    record["commentary"] = text
    get_redis().set(_KEY.format(confirmation_id), json.dumps(record))
    job = get_current_job()
    if job is not None:
        job.meta["output_tokens"] = message.usage.output_tokens
        job.save_meta()
    return text
