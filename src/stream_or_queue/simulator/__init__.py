"""An offline Messages API that the real `anthropic` SDK talks to.

Two ways in: in-process httpx2 transports (`SimulatorTransport`,
`AsyncSimulatorTransport`) and a loopback HTTP server (`serve_in_thread`, or
`python -m stream_or_queue.simulator`). Both share one engine (`Simulator`).
"""

from __future__ import annotations

import threading

from .engine import RateLimits, RequestRecord, SimRequest, SimResponse, Simulator, StreamPlan
from .errors import ApiError
from .faults import Faults
from .server import RunningServer, SimulatorApp, serve_in_thread
from .tokens import count_tokens, tokenize
from .transport import AsyncSimulatorTransport, SimulatorTransport

__all__ = [
    "ApiError",
    "AsyncSimulatorTransport",
    "Faults",
    "RateLimits",
    "RequestRecord",
    "RunningServer",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "SimulatorApp",
    "SimulatorTransport",
    "StreamPlan",
    "count_tokens",
    "default_simulator",
    "reset_default_simulator",
    "serve_in_thread",
    "tokenize",
]

_default: Simulator | None = None
_lock = threading.Lock()


def default_simulator() -> Simulator:
    """The process-wide simulator every offline client shares (one ledger, one set of batches)."""
    global _default
    with _lock:
        if _default is None:
            _default = Simulator()
        return _default


def reset_default_simulator(simulator: Simulator | None = None) -> Simulator:
    """Replace the shared simulator (a fresh one by default); returns it."""
    global _default
    with _lock:
        _default = simulator or Simulator()
        return _default
