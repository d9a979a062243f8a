"""Stream or Queue: when an AI feature should stream, and when it should queue.

The library behind the course's notebooks. The public surface is listed in
`__all__`; sub-packages (`simulator`, `jobs`, `web`, `widgets`, `research`,
`labs`) are imported on their own so that importing this one stays cheap.
"""

from __future__ import annotations

from . import clock, config
from .choose import Decision, Feature, Pattern, choose_pattern
from .llm import async_client, client, cost, token_cost

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
