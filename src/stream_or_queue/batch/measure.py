"""What a run did upstream, and the best it could have done.

`upstream()` reads the simulator's ledger (offline only): how many requests
really reached the API, and how many came back 429, 529 or 500 - including the
retries the SDK made on its own, which the calling code never sees.
`concurrency_floor_s()` is the yardstick for the capped-concurrency path: with
`c` requests always in flight, `n` items of mean latency `L` cannot finish in
less than `n x L / c` (the latencies come from `scheduled_latencies_s()`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..simulator import RequestRecord, Simulator

__all__ = [
    "Upstream",
    "concurrency_floor_s",
    "peak_in_flight",
    "scheduled_by_item",
    "scheduled_latencies_s",
    "upstream",
]

MESSAGES_ENDPOINT = "POST /v1/messages"


@dataclass(frozen=True)
class Upstream:
    """Requests to POST /v1/messages as the API saw them."""

    requests: int
    ok: int
    rate_limited: int  # 429
    overloaded: int  # 529
    server_errors: int  # 500

    @property
    def errors(self) -> int:
        return self.requests - self.ok


def _messages(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.endpoint == MESSAGES_ENDPOINT]


def upstream(simulator: Simulator, since: int = 0) -> Upstream:
    """Counts over the simulator's ledger from index `since` (take `len(sim.ledger)` before)."""
    records = _messages(list(simulator.ledger)[since:])
    return Upstream(
        requests=len(records),
        ok=sum(r.status == 200 for r in records),
        rate_limited=sum(r.status == 429 for r in records),
        overloaded=sum(r.status == 529 for r in records),
        server_errors=sum(r.status == 500 for r in records),
    )


def peak_in_flight(simulator: Simulator, since: int = 0) -> int:
    """Most successful requests the API was serving at the same moment."""
    events: list[tuple[float, int]] = []
    for record in _messages(list(simulator.ledger)[since:]):
        if record.status == 200 and record.ended is not None:
            events += [(record.started, 1), (record.ended, -1)]
    peak = current = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        current += step
        peak = max(peak, current)
    return peak


def scheduled_latencies_s(simulator: Simulator, since: int = 0) -> list[float]:
    """The simulated latency the timing profile gave each successful request.

    This is the API's own time for each answer, without any client overhead:
    the right yardstick for how well a client keeps its slots busy.
    """
    return [
        r.scheduled_total_s for r in _messages(list(simulator.ledger)[since:]) if r.status == 200
    ]


def scheduled_by_item(simulator: Simulator, request_ids: Mapping[str, str]) -> dict[str, float]:
    """Each item's answer duration as the simulator scheduled it (`RunStats.request_ids`).

    A run at time scale 0 records these without waiting; `replay.replay_concurrent`
    then plays any concurrency design over them on simulated time.
    """
    by_request = {r.request_id: r.scheduled_total_s for r in _messages(list(simulator.ledger))}
    missing = [custom_id for custom_id, rid in request_ids.items() if rid not in by_request]
    if missing:
        raise KeyError(f"no answer in this simulator's ledger for {missing[:3]}")
    return {custom_id: by_request[rid] for custom_id, rid in request_ids.items()}


def concurrency_floor_s(latencies_s: Iterable[float], concurrency: int) -> float:
    """The least wall time (simulated s) to serve these requests `concurrency` at a time."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    return sum(latencies_s) / concurrency
