"""The Message Batches API: create, retrieve, list, cancel, delete, results.

A batch is processed in the background at the simulated pace set in `config`
(a start-up time plus a little per request), one request after another in
submission order. Its state is computed from the clock whenever it is read, so
no thread is needed: `request_counts` move from `processing` to a final type as
the requests are reached, and always add up to the batch's size.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import clock, config
from . import model as sim_model
from .errors import ApiError, dumps, error_body, invalid
from .faults import Faults

if TYPE_CHECKING:
    from .engine import SimRequest, SimResponse, Simulator

CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CANCEL_DRAIN_S = 5.0
"""Simulated seconds between a cancel request and the batch ending."""


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Batch:
    id: str
    requests: list[dict[str, Any]]
    created_wall: dt.datetime
    created_real: float
    processing_s: float  # simulated seconds to process every request
    faults: Faults
    base_url: str
    cancel_at_s: float | None = None  # simulated seconds after creation
    results_cache: bytes | None = None
    deleted: bool = False
    order_seed: int = 0
    errored_ids: set[str] = field(default_factory=set)
    offset_s: float = 0.0  # simulated seconds added by fast_forward

    def age(self) -> float:
        """Simulated seconds since creation (time scale 0 means: processed at once)."""
        if config.time_scale() == 0:
            return float("inf")
        return clock.to_sim(time.perf_counter() - self.created_real) + self.offset_s

    @property
    def size(self) -> int:
        return len(self.requests)

    def _processed_by(self, age: float) -> int:
        """How many requests have been reached `age` simulated seconds after creation."""
        start = config.BATCH_BASE_PROCESSING_S * 0.5
        if age == float("inf"):
            return self.size
        if age <= start:
            return 0
        per = (self.processing_s - start) / max(1, self.size)
        return min(self.size, int((age - start) / per) if per > 0 else self.size)

    def end_age(self) -> float:
        candidates = [self.processing_s, config.BATCH_EXPIRY_S]
        if self.cancel_at_s is not None:
            candidates.append(self.cancel_at_s + CANCEL_DRAIN_S)
        return min(candidates)

    def status(self, age: float) -> str:
        if age >= self.end_age():
            return "ended"
        if self.cancel_at_s is not None:
            return "canceling"
        return "in_progress"

    def outcome(self, index: int, age: float) -> str:
        """The final result type of request `index`, given the batch's age."""
        reached_by = self._processed_by(min(age, self.end_age()))
        if index >= reached_by:
            if self.status(age) != "ended":
                return "processing"
            if self.cancel_at_s is not None and self.cancel_at_s + CANCEL_DRAIN_S < config.BATCH_EXPIRY_S:
                return "canceled"
            return "expired"
        request = self.requests[index]
        custom_id = request["custom_id"]
        if self.faults.draw("batch-expired", self.id, custom_id) < self.faults.batch_expired:
            return "expired"
        if custom_id in self.errored_ids:
            return "errored"
        if self.faults.draw("batch-errored", self.id, custom_id) < self.faults.batch_errored:
            return "errored"
        return "succeeded"

    def counts(self, age: float) -> dict[str, int]:
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        for index in range(self.size):
            counts[self.outcome(index, age)] += 1
        return counts


class BatchStore:
    """The batches of one simulator, safe to use from several threads."""

    def __init__(self, simulator: Simulator) -> None:
        self._sim = simulator
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}

    # --- routing ---------------------------------------------------------------------

    def route(self, request: SimRequest, path: str, faults: Faults) -> SimResponse:
        parts = path.split("/")[4:]  # after /v1/messages/batches
        method = request.method
        if not parts and method == "POST":
            return self._json(self.create(self._sim._json(request, self._sim.max_batch_body_bytes),
                                          request.base_url, faults))
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
        if not isinstance(body, dict) or "requests" not in body:
            raise invalid("requests: Field required")
        requests = body["requests"]
        if not isinstance(requests, list) or not requests:
            raise invalid("requests: at least one request is required")
        if len(requests) > config.BATCH_MAX_REQUESTS:
            raise invalid(f"requests: at most {config.BATCH_MAX_REQUESTS:,} requests per batch")
        seen: set[str] = set()
        errored: set[str] = set()
        for index, item in enumerate(requests):
            if not isinstance(item, dict):
                raise invalid(f"requests.{index}: must be an object")
            custom_id = item.get("custom_id")
            if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
                raise invalid(
                    f"requests.{index}.custom_id: must be 1-64 characters of letters, digits, "
                    f"hyphens and underscores, got {custom_id!r}"
                )
            if custom_id in seen:
                raise invalid(f"requests.{index}.custom_id: duplicate custom_id {custom_id!r}")
            seen.add(custom_id)
            params = item.get("params")
            if not isinstance(params, dict):
                raise invalid(f"requests.{index}.params: Field required")
            if params.get("stream"):
                raise invalid(f"requests.{index}.params.stream: streaming is not supported in batches")
            try:
                sim_model.validate_messages_request(params)
            except ApiError as error:
                if error.error_type == "not_found_error":
                    errored.add(custom_id)  # the real API reports these per request
                else:
                    raise invalid(f"requests.{index}.params.{error.message}") from None
        batch = Batch(
            id=self._sim.new_id("msgbatch_"),
            requests=requests,
            created_wall=dt.datetime.now(dt.UTC),
            created_real=time.perf_counter(),
            processing_s=config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S * len(requests),
            faults=faults,
            base_url=base_url,
            order_seed=self._sim.seed,
            errored_ids=errored,
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
        if after := query.get("after_id"):
            batches = batches[ids.index(after) + 1 :] if after in ids else []
        if before := query.get("before_id"):
            batches = batches[: ids.index(before)] if before in ids else []
        page = batches[:limit]
        data = [self._describe(b) for b in page]
        return {
            "data": data,
            "has_more": len(batches) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def cancel(self, batch_id: str) -> dict[str, Any]:
        batch = self._get(batch_id)
        age = batch.age()
        if batch.status(age) == "in_progress":
            batch.cancel_at_s = age
        return self._describe(batch)

    def delete(self, batch_id: str) -> dict[str, Any]:
        batch = self._get(batch_id)
        if batch.status(batch.age()) != "ended":
            raise invalid(
                f"message batch {batch_id} is still processing; cancel it and wait until it ends"
            )
        batch.deleted = True
        return {"id": batch.id, "type": "message_batch_deleted"}

    def results(self, batch_id: str) -> bytes:
        batch = self._get(batch_id)
        age = batch.age()
        if batch.status(age) != "ended":
            raise invalid(f"message batch {batch_id} has not finished processing")
        if batch.results_cache is None:
            lines = [self._result_line(batch, i, age) for i in range(batch.size)]
            random.Random(f"{batch.order_seed}|{batch.id}").shuffle(lines)  # any order, as documented
            batch.results_cache = b"".join(lines)
        return batch.results_cache

    # --- shapes -----------------------------------------------------------------------------

    def _result_line(self, batch: Batch, index: int, age: float) -> bytes:
        request = batch.requests[index]
        custom_id = request["custom_id"]
        outcome = batch.outcome(index, age)
        result: dict[str, Any]
        if outcome == "succeeded":
            params = request["params"]
            digest = sim_model.request_digest(params)
            completion = sim_model.complete(params, random.Random(f"{self._sim.seed}|{digest}"))
            message = self._sim._message_json(self._sim.new_id("msg_"), completion)
            message["usage"]["service_tier"] = "batch"
            result = {"type": "succeeded", "message": message}
        elif outcome == "errored":
            if custom_id in batch.errored_ids:
                model = request["params"].get("model")
                error = error_body("not_found_error", f"model: {model}")
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

    # --- helpers for the course -----------------------------------------------------------

    def fast_forward(self, batch_id: str, sim_seconds: float) -> None:
        """Pretend `sim_seconds` more have passed for this batch (e.g. to reach expiry)."""
        batch = self._get(batch_id)
        batch.offset_s += sim_seconds
        batch.results_cache = None
