"""The simulator's engine: routes a request, applies faults and limits, plans timing.

The engine never sleeps. It returns either a body with the simulated delay
before it, or a `StreamPlan`: server-sent events each with the simulated time
it is due. The in-process transports and the loopback HTTP server play a plan
back (sync or async) and tell the engine how far the client read, which is how
cancellation is accounted for.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import clock, config
from . import model as sim_model
from .batches import BatchStore
from .errors import ApiError, dumps, error_body, invalid
from .faults import NO_FAULTS, Faults

MAX_MESSAGE_BODY_BYTES = 32 * 1024 * 1024
MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024


class ConnectionDropped(Exception):
    """The simulated server dropped the connection part-way through a stream."""


@dataclass(frozen=True)
class SimRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)
    base_url: str = "http://127.0.0.1"


@dataclass
class RequestRecord:
    """What the simulator did for one request: the ledger the course measures from."""

    request_id: str
    endpoint: str
    model: str = ""
    stream: bool = False
    status: int = 200
    fault: str | None = None
    input_tokens: int = 0
    planned_output_tokens: int = 0
    generated_tokens: int = 0
    delivered_tokens: int = 0
    cancelled: bool = False
    completed: bool = False
    retry_count: int = 0
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RateLimits:
    """Limits per simulator, like an organisation's limits at the real API.

    `max_concurrency` caps requests in flight; `requests_per_minute` caps starts
    per simulated minute. Over either, the answer is 429 with retry-after-ms.
    """

    max_concurrency: int | None = None
    requests_per_minute: int | None = None
    retry_after_s: float = 1.0


@dataclass
class StreamPlan:
    """A stream of server-sent events, each due at a simulated time after the start."""

    events: list[tuple[float, bytes, int]]  # (due in simulated s, SSE bytes, output tokens)
    record: RequestRecord
    on_close: Callable[[RequestRecord], None]
    drop_after: int | None = None  # index of the event after which the connection drops
    _started: float | None = None
    _delivered_events: int = 0
    _closed: bool = False

    def _tokens_due(self, elapsed_sim: float) -> int:
        return sum(tokens for due, _, tokens in self.events if due <= elapsed_sim)

    def _batches(self) -> Iterator[tuple[float, bytes, int]]:
        """Group events due at the same moment so fast streams are cheap to play back."""
        index, total = 0, len(self.events)
        while index < total:
            due = self.events[index][0]
            chunk, tokens, end = [], 0, index
            while end < total and self.events[end][0] <= due + 1e-9:
                chunk.append(self.events[end][1])
                tokens += self.events[end][2]
                end += 1
                if self.drop_after is not None and end > self.drop_after:
                    break
            yield due, b"".join(chunk), tokens
            self._delivered_events = end
            index = end
            if self.drop_after is not None and index > self.drop_after:
                raise ConnectionDropped("the server closed the connection mid-stream")

    def __iter__(self) -> Iterator[bytes]:
        self._started = time.perf_counter()
        scale = config.time_scale()
        try:
            for due, chunk, tokens in self._batches():
                wait = self._started + due * scale - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                yield chunk
                self.record.delivered_tokens += tokens
        except ConnectionDropped:
            self._finish(dropped=True)
            raise
        self._finish()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._started = time.perf_counter()
        scale = config.time_scale()
        try:
            for due, chunk, tokens in self._batches():
                wait = self._started + due * scale - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                yield chunk
                self.record.delivered_tokens += tokens
        except ConnectionDropped:
            self._finish(dropped=True)
            raise
        self._finish()

    def _finish(self, dropped: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        record = self.record
        record.completed = not dropped and self._delivered_events >= len(self.events)
        record.generated_tokens = record.planned_output_tokens
        if dropped:
            record.generated_tokens = record.delivered_tokens
        record.ended = time.perf_counter()
        self.on_close(record)

    def close(self) -> None:
        """The client went away: generation stops at what was due by now."""
        if self._closed:
            return
        if self._delivered_events < len(self.events):
            record = self.record
            record.cancelled = True
            elapsed = clock.to_sim(time.perf_counter() - (self._started or time.perf_counter()))
            due_now = self._tokens_due(elapsed)
            record.generated_tokens = max(record.delivered_tokens, min(due_now, record.planned_output_tokens))
            record.completed = False
            record.ended = time.perf_counter()
            self._closed = True
            self.on_close(record)
        else:
            self._finish()


@dataclass
class SimResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    delay_s: float = 0.0  # simulated seconds before a non-streamed body is ready
    stream: StreamPlan | None = None
    record: RequestRecord | None = None
    release: Callable[[], None] = lambda: None


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + dumps(data) + b"\n\n"


class Simulator:
    """An offline Messages API: one instance holds its ledger, batches and limits.

    >>> sim = Simulator(seed=7, faults=Faults(rate_limit=0.1))
    >>> client = anthropic.Anthropic(api_key="x", base_url="http://sim",
    ...     http_client=httpx2.Client(transport=SimulatorTransport(sim)))
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        limits: RateLimits | None = None,
        max_body_bytes: int = MAX_MESSAGE_BODY_BYTES,
        max_batch_body_bytes: int = MAX_BATCH_BODY_BYTES,
    ) -> None:
        self.seed = seed
        self.faults = faults or NO_FAULTS
        self.limits = limits or RateLimits()
        self.max_body_bytes = max_body_bytes
        self.max_batch_body_bytes = max_batch_body_bytes
        self._lock = threading.Lock()
        self._ids = random.Random(f"ids-{seed}")
        self._occurrences: collections.Counter[str] = collections.Counter()
        self._in_flight = 0
        self._starts: collections.deque[float] = collections.deque()
        self.ledger: list[RequestRecord] = []
        self.batches = BatchStore(self)

    # --- bookkeeping -------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        with self._lock:
            return sim_model.new_id(prefix, self._ids)

    def reset(self) -> None:
        """Forget the ledger (batches and limits stay)."""
        with self._lock:
            self.ledger.clear()

    def stats(self) -> dict[str, int]:
        """Totals over the ledger: requests, faults, tokens planned/generated/delivered."""
        with self._lock:
            records = list(self.ledger)
        return {
            "requests": len(records),
            "errors": sum(r.status >= 400 for r in records),
            "rate_limited": sum(r.status == 429 for r in records),
            "cancelled": sum(r.cancelled for r in records),
            "planned_output_tokens": sum(r.planned_output_tokens for r in records),
            "generated_output_tokens": sum(r.generated_tokens for r in records),
            "delivered_output_tokens": sum(r.delivered_tokens for r in records),
        }

    def _record(self, record: RequestRecord) -> RequestRecord:
        with self._lock:
            self.ledger.append(record)
        return record

    def _occurrence(self, digest: str) -> int:
        with self._lock:
            self._occurrences[digest] += 1
            return self._occurrences[digest]

    # --- limits ----------------------------------------------------------------------

    def _admit(self) -> float | None:
        """Take a slot, or return the simulated seconds to wait before retrying."""
        limits = self.limits
        with self._lock:
            if limits.max_concurrency is not None and self._in_flight >= limits.max_concurrency:
                return limits.retry_after_s
            if limits.requests_per_minute is not None:
                now = clock.now()
                while self._starts and now - self._starts[0] >= 60.0:
                    self._starts.popleft()
                if len(self._starts) >= limits.requests_per_minute:
                    return max(0.05, 60.0 - (now - self._starts[0]))
                self._starts.append(now)
            self._in_flight += 1
            return None

    def _release(self, _record: RequestRecord | None = None) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # --- dispatch ----------------------------------------------------------------------

    def handle(self, request: SimRequest, *, faults: Faults | None = None) -> SimResponse:
        """Answer one HTTP request; bad input becomes the real API's error, never a 500."""
        request_id = self.new_id("req_")
        faults = faults or self.faults
        path = request.path.rstrip("/")
        record = RequestRecord(request_id=request_id, endpoint=f"{request.method} {path}")
        try:
            self._check_auth(request)
            if path.startswith("/v1/messages/batches"):
                if len(request.body) > self.max_batch_body_bytes:
                    raise ApiError("request_too_large", "Request exceeds the maximum allowed size")
                response = self.batches.route(request, path, faults)
            elif path == "/v1/messages/count_tokens" and request.method == "POST":
                body = self._json(request, self.max_body_bytes)
                sim_model.validate_messages_request(body, need_max_tokens=False)
                response = self._json_response({"input_tokens": sim_model.input_tokens(body)})
            elif path == "/v1/messages" and request.method == "POST":
                return self._messages(request, record, faults)
            elif path == "/v1/messages":
                raise ApiError("not_found_error", f"{request.method} {path} is not supported")
            else:
                raise ApiError("not_found_error", f"Not found: {request.method} {path}")
        except ApiError as error:
            record.status = error.status
            self._record(record)
            return self._error_response(error, request_id)
        response.headers["request-id"] = request_id
        record.status = response.status
        self._record(record)
        return response

    def _check_auth(self, request: SimRequest) -> None:
        headers = request.headers
        if not (headers.get("x-api-key") or headers.get("authorization")):
            raise ApiError("authentication_error", "x-api-key header is required")

    @staticmethod
    def _json(request: SimRequest, limit: int) -> Any:
        if len(request.body) > limit:
            raise ApiError("request_too_large", "Request exceeds the maximum allowed size")
        try:
            return json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid(f"request body is not valid JSON: {exc}") from None

    @staticmethod
    def _json_response(obj: Any, status: int = 200) -> SimResponse:
        return SimResponse(status, {"content-type": "application/json"}, dumps(obj))

    def _error_response(self, error: ApiError, request_id: str) -> SimResponse:
        headers = {"content-type": "application/json", "request-id": request_id, **error.headers}
        return SimResponse(error.status, headers, dumps(error.body(request_id)))

    # --- POST /v1/messages -----------------------------------------------------------------

    def _messages(self, request: SimRequest, record: RequestRecord, faults: Faults) -> SimResponse:
        try:
            body = self._json(request, self.max_body_bytes)
            sim_model.validate_messages_request(body)
            record.model = sim_model.check_model(body["model"])
            record.stream = bool(body.get("stream"))
            record.retry_count = int(request.headers.get("x-stainless-retry-count", "0") or 0)
            digest = sim_model.request_digest(body)
            occurrence = self._occurrence(f"{digest}|{record.retry_count}")
            fault = faults.request_fault(digest, record.retry_count, occurrence)
            if fault is not None:
                record.fault = fault
                raise self._fault_error(fault, faults)
            wait = self._admit()
            if wait is not None:
                record.fault = "rate_limit"
                raise self._retry_after_error("rate_limit_error", "Rate limited", wait)
        except ApiError as error:
            record.status = error.status
            self._record(record)
            return self._error_response(error, record.request_id)

        temperature = float(body.get("temperature", 1.0))
        text_seed = f"{self.seed}|{digest}" + (f"|{occurrence}" if temperature > 0 else "")
        completion = sim_model.complete(body, random.Random(text_seed))
        timing = random.Random(f"timing|{self.seed}|{digest}|{occurrence}")
        profile = config.TIMING[completion.model]
        ttft = timing.uniform(profile.ttft_min_s, profile.ttft_max_s)
        rate = profile.tokens_per_s * (1 + timing.uniform(-profile.speed_jitter, profile.speed_jitter))
        record.input_tokens = completion.input_tokens
        record.planned_output_tokens = completion.output_tokens
        self._record(record)
        message_id = self.new_id("msg_")
        headers = {"request-id": record.request_id}
        if not record.stream:
            record.generated_tokens = record.delivered_tokens = completion.output_tokens
            record.completed = True
            message = self._message_json(message_id, completion)
            return SimResponse(
                200,
                {**headers, "content-type": "application/json"},
                dumps(message),
                delay_s=ttft + completion.output_tokens / rate,
                record=record,
                release=lambda: self._finish_plain(record),
            )
        stream_fault = faults.stream_fault(digest, record.retry_count, occurrence)
        plan = self._stream_plan(message_id, completion, ttft, rate, record, stream_fault, timing)
        return SimResponse(
            200,
            {**headers, "content-type": "text/event-stream", "cache-control": "no-cache"},
            stream=plan,
            record=record,
        )

    def _finish_plain(self, record: RequestRecord) -> None:
        record.ended = time.perf_counter()
        self._release(record)

    def _fault_error(self, fault: str, faults: Faults) -> ApiError:
        if fault == "rate_limit":
            return self._retry_after_error(
                "rate_limit_error", "Number of requests has exceeded your rate limit",
                faults.retry_after_s,
            )
        if fault == "overloaded":
            return self._retry_after_error("overloaded_error", "Overloaded", faults.retry_after_s)
        return ApiError("api_error", "Internal server error")

    @staticmethod
    def _retry_after_error(kind: str, message: str, wait_sim_s: float) -> ApiError:
        real = clock.to_real(wait_sim_s)
        headers = {
            "retry-after-ms": str(max(0, round(real * 1000))),
            "retry-after": str(max(0, int(real + 0.999))),
        }
        return ApiError(kind, message, headers=headers)

    @staticmethod
    def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        }

    def _message_json(self, message_id: str, completion: sim_model.Completion) -> dict[str, Any]:
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": completion.model,
            "content": [b.as_json() for b in completion.blocks],
            "stop_reason": completion.stop_reason,
            "stop_sequence": completion.stop_sequence,
            "usage": self._usage(completion.input_tokens, completion.output_tokens),
        }

    def _stream_plan(
        self,
        message_id: str,
        completion: sim_model.Completion,
        ttft: float,
        rate: float,
        record: RequestRecord,
        fault: str | None,
        timing: random.Random,
    ) -> StreamPlan:
        events: list[tuple[float, bytes, int]] = []
        start = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": completion.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._usage(completion.input_tokens, 1),
        }
        events.append((ttft * 0.6, sse("message_start", {"type": "message_start", "message": start}), 0))
        produced = 0
        for index, block in enumerate(completion.blocks):
            first_due = ttft + produced / rate
            opening = block.as_json()
            if block.kind == "text":
                opening["text"] = ""
            else:
                opening["input"] = {}
            events.append((first_due, sse("content_block_start", {
                "type": "content_block_start", "index": index, "content_block": opening}), 0))
            if index == 0:
                events.append((first_due, sse("ping", {"type": "ping"}), 0))
            for piece in block.pieces:
                if block.kind == "text":
                    delta = {"type": "text_delta", "text": piece}
                else:
                    delta = {"type": "input_json_delta", "partial_json": piece}
                events.append((ttft + produced / rate, sse("content_block_delta", {
                    "type": "content_block_delta", "index": index, "delta": delta}), 1))
                produced += 1
            events.append((ttft + max(produced - 1, 0) / rate, sse("content_block_stop", {
                "type": "content_block_stop", "index": index}), 0))
        end = ttft + max(produced - 1, 0) / rate
        events.append((end, sse("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": completion.stop_reason, "stop_sequence": completion.stop_sequence},
            "usage": {"output_tokens": produced},
        }), 0))
        events.append((end, sse("message_stop", {"type": "message_stop"}), 0))

        drop_after = None
        if fault is not None:
            record.fault = fault
            token_events = [i for i, e in enumerate(events) if e[2]]
            cut = token_events[int(len(token_events) * timing.uniform(0.2, 0.8))] if token_events else 1
            if fault == "stream_error":
                error = error_body("overloaded_error", "Overloaded")
                events = [*events[: cut + 1], (events[cut][0], sse("error", error), 0)]
            else:
                drop_after = cut + 1
        return StreamPlan(events, record, on_close=self._release, drop_after=drop_after)


def digest_of(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
