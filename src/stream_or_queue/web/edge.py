"""The simulated edge, kept importable here: it lives in `stream_or_queue.edge`, shared."""

from __future__ import annotations

from ..edge import EdgeTimeout

__all__ = ["EdgeTimeout"]
