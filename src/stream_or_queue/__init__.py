"""Stream or Queue: when an AI feature should stream, and when it should queue.

The library behind the course's notebooks. The public surface is listed in
`__all__`; sub-packages (`simulator`, `jobs`, `web`, `widgets`, `research`,
`labs`) are imported on their own so that importing this one stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import clock, config
from .choose import Decision, Feature, Pattern, choose_pattern

if TYPE_CHECKING:
    from .llm import async_client, client, cost, token_cost

_LAZY = {"async_client", "client", "cost", "token_cost"}


def __getattr__(name: str) -> Any:
    # The SDK takes seconds to import: a worker process that never calls a model
    # (a DBOS worker, a lesson's crash demo) should not pay for it.
    if name in _LAZY:
        from . import llm

        return getattr(llm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Decision",
    "Feature",
    "Pattern",
    "async_client",
    "choose_pattern",
    "client",
    "clock",
    "config",
    "cost",
    "token_cost",
]

__version__ = "0.1.0"
