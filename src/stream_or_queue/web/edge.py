"""The simulated edge, kept importable here: it lives in `stream_or_queue.edge`, shared."""

from __future__ import annotations

from ..edge import DurationLimit, Edge, EdgeTimeout, IdleTimeout

__all__ = ["DurationLimit", "Edge", "EdgeTimeout", "IdleTimeout"]
