"""The Message Batches API: create, retrieve, list, cancel, delete, results.

A batch is processed in the background at the simulated pace set in `config`
(a start-up time plus a little per request), one request after another in
submission order. Its state is computed from the clock whenever it is read, so
no thread is needed.

The semantics follow the real API:

- `request_counts` are all `processing` until the whole batch has ended; then
  each request is `succeeded`, `errored`, `canceled` or `expired`. The counts
  always add up to the batch's size. (`BatchStore.progress` lets the course peek
  at how far processing has got, which the real API does not tell.)
- A cancelled batch is `canceling` for a few simulated seconds, then `ended`:
  requests processed before the cancel keep their results, the rest are `canceled`.
- A batch ends at the latest 24 hours after creation; what is unprocessed then
  is `expired`. `Faults(batch_expired=...)` holds requests back so that this
  happens; `fast_forward` moves a batch's clock to get there in no time.
- Only the envelope is checked when a batch is created (a list of 1 to 100,000
  `{custom_id, params}` with valid, unique custom_ids; `schema.BatchCreateRequest`):
  anything else is a 400.
  Each request's `params` are validated while processing, and a bad one ends
  `errored` with an `invalid_request_error` in the results, as documented.
- Results are JSONL in no particular order; match them by `custom_id`.
- Only an ended batch can be deleted.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import clock, config
from . import model as sim_model
from . import schema
from .errors import ApiError, dumps, error_body, invalid, read_json
from .faults import Faults

if TYPE_CHECKING:
    from .engine import SimRequest, SimResponse, Simulator

__all__ = ["CANCEL_DRAIN_S", "Batch", "BatchStore"]

CANCEL_DRAIN_S = 5.0
"""Simulated seconds between a cancel request and the batch ending."""

RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Batch:
    """One batch and everything needed to tell its state at any simulated age."""

    id: str
    requests: list[dict[str, Any]]
    created_wall: dt.datetime
    created_real: float
    processing_s: float  # simulated seconds to process every request
    faults: Faults
    base_url: str
    invalid_params: dict[str, ApiError] = field(default_factory=dict)
    cancel_at_s: float | None = None  # simulated seconds after creation
    offset_s: float = 0.0  # simulated seconds added by fast_forward
    deleted: bool = False
    order_seed: int = 0
    results_cache: bytes | None = None
    final_counts: dict[str, int] | None = None
    _held: frozenset[str] | None = None

    def age(self) -> float:
        """Simulated seconds since creation (time scale 0 means: processed at once)."""
        if config.time_scale() == 0:
            return float("inf")
        return clock.to_sim(time.perf_counter() - self.created_real) + self.offset_s

    @property
    def size(self) -> int:
        return len(self.requests)

    @property
    def held(self) -> frozenset[str]:
        """custom_ids that `batch_expired` holds back until the batch expires."""
        if self._held is None:
            rate = self.faults.batch_expired
            self._held = frozenset(
                r["custom_id"]
                for r in self.requests
                if rate > 0 and self.faults.draw("batch-expired", self.id, r["custom_id"]) < rate
            )
        return self._held

    @property
    def start_s(self) -> float:
        """Simulated seconds before the first request is reached (queueing, warm-up)."""
        return min(config.BATCH_BASE_PROCESSING_S * 0.5, self.processing_s)

    def processed_by(self, age: float) -> int:
        """How many requests (in submission order) processing has reached at `age`."""
        if age >= self.processing_s:
            return self.size
        start = self.start_s
        if age <= start:
            return 0
        per = (self.processing_s - start) / max(1, self.size)
        return min(self.size, int((age - start) / per) if per > 0 else self.size)

    def natural_end(self) -> float:
        """When the batch would end if nobody cancelled it: done, or expired at 24 h."""
        if self.held:
            return config.BATCH_EXPIRY_S
        return min(self.processing_s, config.BATCH_EXPIRY_S)

    def end_age(self) -> float:
        """Simulated age at which the batch ends: done, drained after a cancel, or expired."""
        end = self.natural_end()
        if self.cancel_at_s is not None:
            end = min(end, self.cancel_at_s + CANCEL_DRAIN_S)
        return end

    def ended_by_cancel(self) -> bool:
        return self.cancel_at_s is not None and (
            self.cancel_at_s + CANCEL_DRAIN_S < self.natural_end()
        )

    def status(self, age: float) -> str:
        if age >= self.end_age():
            return "ended"
        if self.cancel_at_s is not None:
            return "canceling"
        return "in_progress"

    def outcome(self, index: int) -> str:
        """The result type of request `index` once the batch has ended."""
        custom_id = self.requests[index]["custom_id"]
        reached = index < self.processed_by(self.end_age()) and custom_id not in self.held
        if reached:
            if custom_id in self.invalid_params:
                return "errored"
            if self.faults.draw("batch-errored", self.id, custom_id) < self.faults.batch_errored:
                return "errored"
            return "succeeded"
        return "canceled" if self.ended_by_cancel() else "expired"

    def counts(self, age: float) -> dict[str, int]:
        """`request_counts`: all processing until the end, then final (and cached)."""
        if self.status(age) != "ended":
            return {"processing": self.size, **dict.fromkeys(RESULT_TYPES, 0)}
        if self.final_counts is None:
            counts = {"processing": 0, **dict.fromkeys(RESULT_TYPES, 0)}
            for index in range(self.size):
                counts[self.outcome(index)] += 1
            self.final_counts = counts
        return dict(self.final_counts)


class BatchStore:
    """The batches of one simulator, safe to use from several threads."""

    def __init__(self, simulator: Simulator) -> None:
        self._sim = simulator
        self._lock = threading.RLock()
        self._batches: dict[str, Batch] = {}

    # --- routing ---------------------------------------------------------------------

    def route(self, request: SimRequest, path: str, faults: Faults) -> SimResponse:
        parts = path.split("/")[4:]  # after /v1/messages/batches
        method = request.method
        if not parts and method == "POST":
            body = read_json(request.body, self._sim.max_batch_body_bytes)
            return self._json(self.create(body, request.base_url, faults))
        if not parts and method == "GET":
            return self._json(self.list(request.query))
        if len(parts) == 1 and method == "GET":
            return self._json(self.retrieve(parts[0]))
        if len(parts) == 1 and method == "DELETE":
            return self._json(self.delete(parts[0]))
        if len(parts) == 2 and parts[1] == "cancel" and method == "POST":
            return self._json(self.cancel(parts[0]))
        if len(parts) == 2 and parts[1] == "results" and method == "GET":
            from .engine import SimResponse

            return SimResponse(200, {"content-type": "application/binary"}, self.results(parts[0]))
        raise ApiError("not_found_error", f"Not found: {method} {path}")

    def _json(self, obj: Any) -> SimResponse:
        from .engine import SimResponse

        return SimResponse(200, {"content-type": "application/json"}, dumps(obj))

    # --- operations -------------------------------------------------------------------

    def create(self, body: Any, base_url: str, faults: Faults) -> dict[str, Any]:
        """Check the envelope (400 on a bad one), then queue the batch."""
        requests = schema.validate_batch_envelope(body)
        invalid_params: dict[str, ApiError] = {}
        for item in requests:
            problem = _check_params(item["params"])
            if problem is not None:
                invalid_params[item["custom_id"]] = problem
        batch = Batch(
            id=self._sim.new_id("msgbatch_"),
            requests=requests,
            created_wall=dt.datetime.now(dt.UTC),
            created_real=time.perf_counter(),
            processing_s=(
                config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S * len(requests)
            ),
            faults=faults,
            base_url=base_url,
            order_seed=self._sim.seed,
            invalid_params=invalid_params,
        )
        with self._lock:
            self._batches[batch.id] = batch
        return self._describe(batch)

    def _get(self, batch_id: str) -> Batch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None or batch.deleted:
            raise ApiError("not_found_error", f"message batch {batch_id!r} not found")
        return batch

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._describe(self._get(batch_id))

    def list(self, query: dict[str, str]) -> dict[str, Any]:
        """Most recent first, `limit` per page; `after_id`/`before_id` page through."""
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            raise invalid("limit: must be an integer") from None
        if not 1 <= limit <= 1000:
            raise invalid("limit: must be between 1 and 1000")
        with self._lock:
            batches = [b for b in self._batches.values() if not b.deleted]
        batches.reverse()  # most recent first
        ids = [b.id for b in batches]
        if before := query.get("before_id"):
            # the page that ends just before `before_id` (paging backwards)
            stop = ids.index(before) if before in ids else 0
            window = batches[:stop]
            page = window[-limit:]
            has_more = len(window) > limit
        else:
            if after := query.get("after_id"):
                batches = batches[ids.index(after) + 1 :] if after in ids else []
            page = batches[:limit]
            has_more = len(batches) > limit
        data = [self._describe(b) for b in page]
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def cancel(self, batch_id: str) -> dict[str, Any]:
        """Start cancelling; an already ended or canceling batch is returned as it is."""
        with self._lock:
            batch = self._get(batch_id)
            age = batch.age()
            if batch.status(age) == "in_progress":
                batch.cancel_at_s = age
                batch.results_cache, batch.final_counts = None, None
        return self._describe(batch)

    def delete(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            batch = self._get(batch_id)
            if batch.status(batch.age()) != "ended":
                raise invalid(
                    f"message batch {batch_id} is still processing; cancel it and wait until "
                    "it has ended before deleting it"
                )
            batch.deleted = True
        return {"id": batch.id, "type": "message_batch_deleted"}

    def results(self, batch_id: str) -> bytes:
        batch = self._get(batch_id)
        if batch.status(batch.age()) != "ended":
            raise invalid(f"message batch {batch_id} has not ended yet; its results are not ready")
        with self._lock:
            if batch.results_cache is None:
                lines = [self._result_line(batch, i) for i in range(batch.size)]
                # any order, as documented: match results by custom_id
                random.Random(f"{batch.order_seed}|{batch.id}").shuffle(lines)
                batch.results_cache = b"".join(lines)
            return batch.results_cache

    # --- helpers for the course -----------------------------------------------------------

    def fast_forward(self, batch_id: str, sim_seconds: float) -> None:
        """Pretend `sim_seconds` more have passed for this batch (e.g. to reach expiry)."""
        if not sim_seconds >= 0:
            raise ValueError("sim_seconds must be >= 0")
        with self._lock:
            batch = self._get(batch_id)
            batch.offset_s += sim_seconds
            batch.results_cache, batch.final_counts = None, None

    def progress(self, batch_id: str) -> float:
        """Fraction of requests processing has reached (0-1): what the real API hides."""
        batch = self._get(batch_id)
        age = min(batch.age(), batch.end_age())
        reached = batch.processed_by(age)
        return reached / batch.size

    def get(self, batch_id: str) -> Batch:
        """The stored batch (for tests and the course's own views)."""
        return self._get(batch_id)

    # --- shapes -----------------------------------------------------------------------------

    def _result_line(self, batch: Batch, index: int) -> bytes:
        request = batch.requests[index]
        custom_id = request["custom_id"]
        outcome = batch.outcome(index)
        result: dict[str, Any]
        if outcome == "succeeded":
            params = request["params"]
            digest = sim_model.request_digest(params)
            completion = sim_model.complete(params, random.Random(f"{self._sim.seed}|{digest}"))
            from .engine import message_json

            message = message_json(self._sim.new_id("msg_"), completion, service_tier="batch")
            result = {"type": "succeeded", "message": message}
        elif outcome == "errored":
            problem = batch.invalid_params.get(custom_id)
            if problem is not None:
                error = error_body(problem.error_type, problem.message)
            else:
                error = error_body("api_error", "Internal server error")
            result = {"type": "errored", "error": error}
        else:
            result = {"type": outcome}
        return dumps({"custom_id": custom_id, "result": result}) + b"\n"

    def _describe(self, batch: Batch) -> dict[str, Any]:
        age = batch.age()
        status = batch.status(age)
        created = batch.created_wall
        ended_at = (
            _iso(created + dt.timedelta(seconds=batch.end_age())) if status == "ended" else None
        )
        cancel_at = (
            _iso(created + dt.timedelta(seconds=batch.cancel_at_s))
            if batch.cancel_at_s is not None
            else None
        )
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": batch.counts(age),
            "created_at": _iso(created),
            "expires_at": _iso(created + dt.timedelta(seconds=config.BATCH_EXPIRY_S)),
            "ended_at": ended_at,
            "cancel_initiated_at": cancel_at,
            "archived_at": None,
            "results_url": (
                f"{batch.base_url}/v1/messages/batches/{batch.id}/results"
                if status == "ended"
                else None
            ),
        }


def _check_params(params: dict[str, Any]) -> ApiError | None:
    """What processing will say about one request's params (None: it can run)."""
    if params.get("stream"):
        return invalid("stream: streaming is not supported in a batch")
    try:
        schema.validate_messages_request(params)
    except ApiError as error:
        return error
    return None
