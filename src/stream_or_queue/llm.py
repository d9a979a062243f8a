"""Real SDK clients, offline or live, and what their usage costs.

`client()` and `async_client()` return `anthropic.Anthropic` / `AsyncAnthropic`.
Offline (the default) they talk to the simulator in-process, or over HTTP when
`ANTHROPIC_BASE_URL` points at `python -m stream_or_queue.simulator`; live
(`STREAM_OR_QUEUE_MODE=live` with `ANTHROPIC_API_KEY` set) they talk to the real
API. The calling code is the same in every case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic
import httpx2

from . import config
from .simulator import (
    AsyncSimulatorTransport,
    Faults,
    Simulator,
    SimulatorTransport,
    default_simulator,
)

__all__ = ["OFFLINE_API_KEY", "OFFLINE_BASE_URL", "async_client", "client", "cost", "token_cost"]

OFFLINE_BASE_URL = "http://simulator.local"
OFFLINE_API_KEY = "offline-simulator-key"  # not a secret: the simulator accepts any key


def _offline_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.setdefault("api_key", OFFLINE_API_KEY)
    return kwargs


def client(
    *,
    simulator: Simulator | None = None,
    faults: Faults | None = None,
    max_retries: int = config.SDK_MAX_RETRIES,
    **kwargs: Any,
) -> anthropic.Anthropic:
    """A synchronous SDK client for the current mode.

    Offline, `simulator` (default: the shared one) answers in-process and `faults`
    overrides its failure rates for this client only; with `ANTHROPIC_BASE_URL`
    set (and no `simulator` given) requests go over HTTP and `faults` travel in
    the `x-sim-faults` header. Live, both are ignored: the real API has its own.
    Any other keyword goes to `anthropic.Anthropic` unchanged.
    """
    if config.mode() == "live":
        return anthropic.Anthropic(max_retries=max_retries, **kwargs)
    base_url = config.env("ANTHROPIC_BASE_URL")
    if base_url and simulator is None:
        return anthropic.Anthropic(
            base_url=base_url, max_retries=max_retries, **_http_kwargs(kwargs, faults)
        )
    transport = SimulatorTransport(simulator or default_simulator(), faults=faults)
    return anthropic.Anthropic(
        base_url=OFFLINE_BASE_URL,
        max_retries=max_retries,
        http_client=httpx2.Client(transport=transport),
        **_offline_kwargs(kwargs),
    )


def async_client(
    *,
    simulator: Simulator | None = None,
    faults: Faults | None = None,
    max_retries: int = config.SDK_MAX_RETRIES,
    **kwargs: Any,
) -> anthropic.AsyncAnthropic:
    """The asynchronous twin of `client()`."""
    if config.mode() == "live":
        return anthropic.AsyncAnthropic(max_retries=max_retries, **kwargs)
    base_url = config.env("ANTHROPIC_BASE_URL")
    if base_url and simulator is None:
        return anthropic.AsyncAnthropic(
            base_url=base_url, max_retries=max_retries, **_http_kwargs(kwargs, faults)
        )
    transport = AsyncSimulatorTransport(simulator or default_simulator(), faults=faults)
    return anthropic.AsyncAnthropic(
        base_url=OFFLINE_BASE_URL,
        max_retries=max_retries,
        http_client=httpx2.AsyncClient(transport=transport),
        **_offline_kwargs(kwargs),
    )


def _http_kwargs(kwargs: dict[str, Any], faults: Faults | None) -> dict[str, Any]:
    """Client options for the HTTP simulator: faults travel as a header, beside the caller's."""
    headers = {**(kwargs.pop("default_headers", None) or {}), **_fault_headers(faults)}
    return {**_offline_kwargs(kwargs), "default_headers": headers}


def _fault_headers(faults: Faults | None) -> dict[str, str]:
    if faults is None:
        return {}
    spec = ",".join(f"{k}={v}" for k, v in vars(faults).items())
    return {"x-sim-faults": spec}


def _get(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
    return int(value or 0)


def cost(usage: Any, model: str, *, batch: bool = False) -> float:
    """US dollars for one call's `usage` (an SDK Usage object or a dict).

    Batch calls are billed at `config.BATCH_DISCOUNT` of the standard price; prompt
    cache writes and reads at their own multiples of the input price (the simulator
    reports none, a live call with `cache_control` does).
    """
    price = config.PRICES.get(config.canonical_model(model))
    if price is None:
        raise ValueError(f"no price known for model {model!r}; known: {sorted(config.PRICES)}")
    input_tokens = (
        _get(usage, "input_tokens")
        + _get(usage, "cache_creation_input_tokens") * config.CACHE_WRITE_MULTIPLIER
        + _get(usage, "cache_read_input_tokens") * config.CACHE_READ_MULTIPLIER
    )
    dollars = (
        input_tokens * price.input_per_mtok + _get(usage, "output_tokens") * price.output_per_mtok
    ) / 1_000_000
    return dollars * (config.BATCH_DISCOUNT if batch else 1.0)


def token_cost(input_tokens: int, output_tokens: int, model: str, *, batch: bool = False) -> float:
    """US dollars for a number of input and output tokens."""
    return cost({"input_tokens": input_tokens, "output_tokens": output_tokens}, model, batch=batch)
