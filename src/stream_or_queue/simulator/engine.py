"""The simulator's engine: routes a request, applies faults and limits, plans timing.

The engine never sleeps. It returns either a body with the simulated delay
before it, or a `StreamPlan`: server-sent events each due at a simulated time
after the request arrived. The in-process transports and the loopback HTTP
server play a plan back (sync or async) and tell the engine how far the client
read, which is how cancellation is accounted for. Inside `clock.simulated()` a plan is
played by advancing the simulated timeline instead of sleeping (see `stream_or_queue.clock`).

A plan builds its events lazily, while it is played: a 5,000-word answer must
not delay its own first token by the time it takes to encode the last one.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import clock, config
from . import model as sim_model
from . import schema
from .batches import BatchStore
from .errors import ApiError, dumps, error_body, read_json
from .faults import NO_FAULTS, Faults

__all__ = [
    "MAX_BATCH_BODY_BYTES",
    "MAX_MESSAGE_BODY_BYTES",
    "ConnectionDropped",
    "RateLimits",
    "RequestRecord",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "StreamPlan",
    "digest_of",
    "message_json",
    "sse",
]

MAX_MESSAGE_BODY_BYTES = 32 * 1024 * 1024
MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024


class ConnectionDropped(Exception):
    """The simulated server dropped the connection part-way through a response."""


@dataclass(frozen=True)
class SimRequest:
    """One HTTP request as the engine sees it, whichever way it came in."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)
    base_url: str = "http://127.0.0.1"


@dataclass
class RequestRecord:
    """What the simulator did for one request: the ledger the course measures from.

    Token counts are output tokens. `planned` is the whole answer the model meant
    to give, `generated` what it produced before the request ended (less than
    planned when the client cancelled or the stream failed), `delivered` what was
    handed to the client; `thinking_tokens` is the part of `planned` spent thinking
    (extended thinking), written before the answer's first text token.
    `scheduled_ttft_s` and `scheduled_total_s` are the simulated seconds the timing
    profile gave this answer, before any overhead.
    """

    request_id: str
    endpoint: str
    model: str = ""
    stream: bool = False
    status: int = 200
    fault: str | None = None
    input_tokens: int = 0
    planned_output_tokens: int = 0
    thinking_tokens: int = 0
    generated_tokens: int = 0
    delivered_tokens: int = 0
    cancelled: bool = False
    completed: bool = False
    retry_count: int = 0
    scheduled_ttft_s: float = 0.0
    scheduled_total_s: float = 0.0
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

    def __post_init__(self) -> None:
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.requests_per_minute is not None and self.requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        if self.retry_after_s < 0:
            raise ValueError("retry_after_s must be >= 0")


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event, exactly as the real API frames it."""
    return b"event: " + event.encode() + b"\ndata: " + dumps(data) + b"\n\n"


_PING = sse("ping", {"type": "ping"})
_STOP = sse("message_stop", {"type": "message_stop"})
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_DELTA = b',"delta":{"type":"text_delta","text":'
_JSON_DELTA = b',"delta":{"type":"input_json_delta","partial_json":'
_THINKING_DELTA = b',"delta":{"type":"thinking_delta","thinking":'
_DELTA_TAIL = b"}}\n\n"


def _delta(index: int, kind: str, piece: str) -> bytes:
    """A content_block_delta event, formatted without building a dict per token."""
    middle = {"text": _TEXT_DELTA, "thinking": _THINKING_DELTA}.get(kind, _JSON_DELTA)
    return _DELTA_HEAD + str(index).encode() + middle + dumps(piece) + _DELTA_TAIL


_MAX_COALESCED = 64
"""At most this many chunks (about as many tokens) go out in one write when behind."""

_TIMER_SLACK_S = 0.0015
"""asyncio's timers round a wait up to the next millisecond (epoll takes whole ms)."""


def _block_until(deadline: float, *, precise: bool = False) -> None:
    """Sleep until `deadline` (perf_counter seconds); the sync twin of `_sleep_until`.

    On a busy machine a sleeping thread can wake milliseconds late. With
    `precise` (the first token, which TTFT measures), it sleeps short and then
    polls with `time.sleep(0)`, which releases the GIL to other threads.
    """
    wait = deadline - time.perf_counter()
    if wait <= 0:
        return
    if not precise:
        time.sleep(wait)
        return
    if wait > _TIMER_SLACK_S:
        time.sleep(wait - _TIMER_SLACK_S)
    while time.perf_counter() < deadline:
        time.sleep(0)


async def _sleep_until(deadline: float, *, precise: bool = False) -> None:
    """Await until `deadline` (perf_counter seconds), always letting other tasks run.

    A plain `asyncio.sleep` wakes up to a millisecond late. With `precise`, it
    sleeps short and then yields to the loop until the deadline: other tasks
    keep running, and a token is neither early nor a millisecond late.
    """
    wait = deadline - time.perf_counter()
    if wait <= 0:
        await asyncio.sleep(0)  # behind schedule: still let the loop breathe (disconnects, peers)
        return
    if not precise:
        await asyncio.sleep(wait)
        return
    if wait > _TIMER_SLACK_S:
        await asyncio.sleep(wait - _TIMER_SLACK_S)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0)


def _usage(input_tokens: int, output_tokens: int, tier: str = "standard") -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": tier,
    }


def message_json(
    message_id: str, completion: sim_model.Completion, *, service_tier: str = "standard"
) -> dict[str, Any]:
    """A complete Message object, as `POST /v1/messages` (or a batch's result) returns it."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": completion.model,
        "content": [b.as_json() for b in completion.blocks],
        "stop_reason": completion.stop_reason,
        "stop_sequence": completion.stop_sequence,
        "usage": _usage(completion.input_tokens, completion.output_tokens, service_tier),
    }


def opening_signature(block: sim_model.Block) -> str:
    """The signature a thinking block carries (sent in its `signature_delta`)."""
    return str(block.as_json()["signature"])


class StreamPlan:
    """A stream of server-sent events, each due at a simulated time after the request.

    Token `i` (counting over every block) is due at `ttft + i / rate`. Events due
    at the same moment are sent as one chunk. A `fault` cuts the stream after
    `cut` tokens: `stream_error` sends an `error` event there and ends the
    stream; `disconnect` stops there and the transport drops the connection.
    """

    def __init__(
        self,
        *,
        message_id: str,
        completion: sim_model.Completion,
        ttft: float,
        rate: float,
        record: RequestRecord,
        on_close: Callable[[RequestRecord], None],
        fault: str | None = None,
        cut: int | None = None,
    ) -> None:
        self.message_id = message_id
        self.completion = completion
        self.ttft = ttft
        self.rate = rate
        self.record = record
        self.on_close = on_close
        self.fault = fault
        self.planned = completion.output_tokens
        self.cut = None if fault is None else max(0, min(cut or 0, self.planned))
        self.scale = config.time_scale()
        self.started = time.perf_counter()  # generation starts when the request arrives
        # on a simulated timeline the plan is played by advancing it, never by sleeping
        self.timeline = clock.timeline()
        self.started_at = self.timeline.now if self.timeline is not None else 0.0
        self.dropped = False
        self._finished_events = False
        self._closed = False
        self._lock = threading.Lock()

    # --- the schedule -------------------------------------------------------------------

    @property
    def tokens_in_plan(self) -> int:
        """Output tokens this stream will carry (fewer than planned when a fault cuts it)."""
        return self.planned if self.cut is None else self.cut

    def token_due(self, index: int) -> float:
        """Simulated seconds after the request at which token `index` is due."""
        return self.ttft + index / self.rate

    def tokens_due_by(self, elapsed_sim: float) -> int:
        """How many tokens the model has produced `elapsed_sim` simulated seconds in."""
        if elapsed_sim < self.ttft:
            return 0
        if math.isinf(elapsed_sim):
            return self.tokens_in_plan
        return min(self.tokens_in_plan, int((elapsed_sim - self.ttft) * self.rate) + 1)

    @property
    def end_due(self) -> float:
        return self.token_due(max(self.planned - 1, 0))

    def _events(self) -> Iterator[tuple[float, bytes, int]]:
        """(due, SSE bytes, output tokens) in order, built only when asked for."""
        completion = self.completion
        start: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": completion.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(completion.input_tokens, 1),
        }
        yield self.ttft * 0.6, sse("message_start", {"type": "message_start", "message": start}), 0
        if self.cut == 0:
            yield from self._fault_events(self.ttft * 0.6)
            return
        produced = 0
        for index, block in enumerate(completion.blocks):
            first_due = self.token_due(produced)
            opening = block.as_json()
            if block.kind == "text":
                opening["text"] = ""
            elif block.kind == "thinking":
                opening["thinking"], opening["signature"] = "", ""
            else:
                opening["input"] = {}
            yield (
                first_due,
                sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": opening},
                ),
                0,
            )
            if index == 0:
                yield first_due, _PING, 0
            for piece in block.pieces:
                due = self.token_due(produced)
                yield due, _delta(index, block.kind, piece), 1
                produced += 1
                if produced == self.cut:
                    yield from self._fault_events(due)
                    return
            if block.kind == "thinking":  # the real API signs the block just before it stops
                signed = {"type": "signature_delta", "signature": opening_signature(block)}
                yield (
                    self.token_due(max(produced - 1, 0)),
                    sse(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": signed},
                    ),
                    0,
                )
            yield (
                self.token_due(max(produced - 1, 0)),
                sse("content_block_stop", {"type": "content_block_stop", "index": index}),
                0,
            )
        end = self.end_due
        yield (
            end,
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": completion.stop_reason,
                        "stop_sequence": completion.stop_sequence,
                    },
                    "usage": {
                        "input_tokens": completion.input_tokens,
                        "output_tokens": produced,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            ),
            0,
        )
        yield end, _STOP, 0

    def _fault_events(self, due: float) -> Iterator[tuple[float, bytes, int]]:
        if self.fault == "stream_error":
            yield due, sse("error", error_body("overloaded_error", "Overloaded")), 0
        else:
            self.dropped = True

    def _chunks(self) -> Iterator[tuple[float, bytes, int, bool]]:
        """Events due at the same moment, joined (fast streams cost fewer writes).

        The last element says whether this is the stream's final chunk.
        """
        group_due: float | None = None
        parts: list[bytes] = []
        tokens = 0
        for due, data, count in self._events():
            if parts and group_due is not None and due > group_due + 1e-9:
                yield group_due, b"".join(parts), tokens, False
                parts, tokens = [], 0
            if not parts:
                group_due = due
            parts.append(data)
            tokens += count
        if parts and group_due is not None:
            yield group_due, b"".join(parts), tokens, True

    # --- playback -------------------------------------------------------------------------

    def _wait(self, due: float) -> float:
        """How long until `due` (seconds of the playing clock; <= 0 when already due)."""
        if self.timeline is not None:
            return self.started_at + due - self.timeline.now
        return self.started + due * self.scale - time.perf_counter()

    def _elapsed(self) -> float:
        """Simulated seconds since the request arrived."""
        if self.timeline is not None:
            return self.timeline.now - self.started_at
        elapsed_real = time.perf_counter() - self.started
        return elapsed_real / self.scale if self.scale > 0 else math.inf

    def __iter__(self) -> Iterator[bytes]:
        """Play the plan back in this thread, one chunk per read (in-process, sync)."""
        source = self._chunks()
        pending = next(source, None)
        while pending is not None:
            if self._closed:
                return
            due, _, tokens, _ = pending
            if self.timeline is not None:
                self.timeline.sleep_until(self.started_at + due)
            else:
                # the first token is what TTFT measures: wait for it precisely
                precise = tokens > 0 and self.record.delivered_tokens == 0
                _block_until(self.started + due * self.scale, precise=precise)
            chunk, pending = self._take(pending, source, coalesce=False)
            yield chunk
        self._end_of_events()

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Play the plan back on the event loop, one chunk per read (in-process, async)."""
        return self.play(coalesce=False)

    async def play(self, *, coalesce: bool) -> AsyncIterator[bytes]:
        """Async playback; with `coalesce`, chunks already due go out in one write.

        The HTTP server coalesces: it pushes into a socket whether or not the
        client keeps up, as a real server does, and a server that has fallen
        behind (a busy machine, time scale 0) should not pay one write and one
        loop turn per token. In-process transports hand over exactly what the
        client pulls, so that "delivered" is what the client read.
        """
        source = self._chunks()
        pending = next(source, None)
        while pending is not None:
            if self._closed:
                return
            due, _, tokens, _ = pending
            if self.timeline is not None:
                await self.timeline.asleep_until(self.started_at + due)
            else:
                precise = tokens > 0 and self.record.delivered_tokens == 0
                await _sleep_until(self.started + due * self.scale, precise=precise)
            chunk, pending = self._take(pending, source, coalesce=coalesce)
            yield chunk
        self._end_of_events()

    def _take(
        self,
        first: tuple[float, bytes, int, bool],
        source: Iterator[tuple[float, bytes, int, bool]],
        *,
        coalesce: bool,
    ) -> tuple[bytes, tuple[float, bytes, int, bool] | None]:
        """Hand over `first` (plus, coalescing, the chunks already due behind it)."""
        _, data, tokens, last = first
        parts = [data]
        pending = next(source, None)
        limit = _MAX_COALESCED if coalesce else 1
        while pending is not None and len(parts) < limit and self._wait(pending[0]) <= 0:
            parts.append(pending[1])
            tokens += pending[2]
            last = pending[3]
            pending = next(source, None)
        self._hand_over(tokens, last)
        return (data if len(parts) == 1 else b"".join(parts)), pending

    def _hand_over(self, tokens: int, last: bool) -> None:
        """Account for a chunk as it leaves (a client that stops after it cancelled nothing)."""
        self.record.delivered_tokens += tokens
        if last:
            self._finished_events = True

    def _end_of_events(self) -> None:
        self._finished_events = True
        self._finish()
        if self.dropped:
            raise ConnectionDropped("the server closed the connection mid-stream")

    def _finish(self) -> None:
        """Every event was sent: generation ended with the last token sent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        record = self.record
        record.generated_tokens = record.delivered_tokens
        record.completed = self.fault is None
        record.ended = time.perf_counter()
        self.on_close(record)

    def close(self) -> None:
        """The client went away: generation stops at what was due by now."""
        if self._finished_events:
            self._finish()
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
        record = self.record
        due_now = self.tokens_due_by(self._elapsed())
        record.cancelled = True
        record.completed = False
        record.generated_tokens = max(record.delivered_tokens, due_now)
        record.ended = time.perf_counter()
        self.on_close(record)


@dataclass
class SimResponse:
    """The engine's answer: a body after `delay_s` simulated seconds, or a stream."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    delay_s: float = 0.0  # simulated seconds before a non-streamed body is ready
    stream: StreamPlan | None = None
    record: RequestRecord | None = None
    release: Callable[[], None] = lambda: None
    drop: bool = False  # drop the connection instead of sending the body


class Simulator:
    """An offline Messages API: one instance holds its ledger, batches and limits.

    >>> sim = Simulator(seed=7, faults=Faults(rate_limit=0.1))
    >>> client = anthropic.Anthropic(api_key="x", base_url="http://sim",
    ...     http_client=httpx2.Client(transport=SimulatorTransport(sim)))

    `timing` overrides the timing profiles of `config.TIMING` for this simulator
    only (e.g. a slow model to make cancellation visible).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        limits: RateLimits | None = None,
        max_body_bytes: int = MAX_MESSAGE_BODY_BYTES,
        max_batch_body_bytes: int = MAX_BATCH_BODY_BYTES,
        timing: Mapping[str, config.TimingProfile] | None = None,
    ) -> None:
        self.seed = seed
        self.faults = faults or NO_FAULTS
        self.limits = limits or RateLimits()
        self.max_body_bytes = max_body_bytes
        self.max_batch_body_bytes = max(max_batch_body_bytes, max_body_bytes)
        self.timing: dict[str, config.TimingProfile] = {**config.TIMING, **(timing or {})}
        self._lock = threading.Lock()
        self._ids = random.Random(f"ids-{seed}")
        self._batch_ids = random.Random(f"batch-ids-{seed}")  # its own stream: see new_id
        self._occurrences: collections.Counter[str] = collections.Counter()
        self._in_flight = 0
        self._starts: collections.deque[float] = collections.deque()
        self.ledger: list[RequestRecord] = []
        self.batches = BatchStore(self)

    # --- bookkeeping -------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """A seeded id. Batch ids have their own stream, so the nth batch always gets the
        same id (and so the same seeded outcomes) however many live calls ran meanwhile."""
        with self._lock:
            stream = self._batch_ids if prefix == "msgbatch_" else self._ids
            return sim_model.new_id(prefix, stream)

    def reset(self) -> None:
        """Forget the ledger (batches and limits stay)."""
        with self._lock:
            self.ledger.clear()

    def find(self, request_id: str) -> RequestRecord | None:
        """The ledger entry of a request id (the SDK's `_request_id`), if any."""
        with self._lock:
            records = list(self.ledger)
        return next((r for r in reversed(records) if r.request_id == request_id), None)

    def stats(self) -> dict[str, int]:
        """Totals over the ledger: requests, faults, tokens planned/generated/delivered."""
        with self._lock:
            records = list(self.ledger)
        return {
            "requests": len(records),
            "errors": sum(r.status >= 400 for r in records),
            "rate_limited": sum(r.status == 429 for r in records),
            "faults": sum(r.fault is not None for r in records),
            "retries": sum(r.retry_count > 0 for r in records),
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
                    return max(limits.retry_after_s, 60.0 - (now - self._starts[0]))
                self._starts.append(now)
            self._in_flight += 1
            return None

    def _release(self, _record: RequestRecord | None = None) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    @property
    def in_flight(self) -> int:
        """Requests holding a concurrency slot right now."""
        return self._in_flight

    # --- dispatch ----------------------------------------------------------------------

    def handle(self, request: SimRequest, *, faults: Faults | None = None) -> SimResponse:
        """Answer one HTTP request; bad input becomes the real API's error, never a 500."""
        request_id = self.new_id("req_")
        faults = faults or self.faults
        path = request.path.rstrip("/") or "/"
        record = RequestRecord(request_id=request_id, endpoint=f"{request.method} {path}")
        try:
            self._check_auth(request)
            if path == "/v1/messages/batches" or path.startswith("/v1/messages/batches/"):
                if len(request.body) > self.max_batch_body_bytes:
                    raise ApiError("request_too_large", "Request exceeds the maximum allowed size")
                response = self.batches.route(request, path, faults)
            elif path == "/v1/messages/count_tokens" and request.method == "POST":
                body = read_json(request.body, self.max_body_bytes)
                schema.validate_messages_request(body, need_max_tokens=False)
                record.model = schema.check_model(body["model"])
                response = self._json_response({"input_tokens": sim_model.input_tokens(body)})
            elif path == "/v1/messages" and request.method == "POST":
                return self._messages(request, record, faults)
            else:
                raise ApiError("not_found_error", f"Not found: {request.method} {path}")
        except ApiError as error:
            record.status = error.status
            record.ended = time.perf_counter()
            self._record(record)
            return self._error_response(error, request_id)
        response.headers["request-id"] = request_id
        record.status = response.status
        record.completed = True
        record.ended = time.perf_counter()
        self._record(record)
        return response

    def _check_auth(self, request: SimRequest) -> None:
        headers = request.headers
        if not (headers.get("x-api-key") or headers.get("authorization")):
            raise ApiError("authentication_error", "x-api-key header is required")

    @staticmethod
    def _json_response(obj: Any, status: int = 200) -> SimResponse:
        return SimResponse(status, {"content-type": "application/json"}, dumps(obj))

    def _error_response(self, error: ApiError, request_id: str) -> SimResponse:
        headers = {"content-type": "application/json", "request-id": request_id, **error.headers}
        return SimResponse(error.status, headers, dumps(error.body(request_id)))

    # --- POST /v1/messages -----------------------------------------------------------------

    def _messages(self, request: SimRequest, record: RequestRecord, faults: Faults) -> SimResponse:
        try:
            record.retry_count = _retry_count(request.headers)
            body = read_json(request.body, self.max_body_bytes)
            schema.validate_messages_request(body)
            record.model = schema.check_model(body["model"])
            record.stream = body.get("stream") is True
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
            record.ended = time.perf_counter()
            self._record(record)
            return self._error_response(error, record.request_id)

        temperature = body.get("temperature")
        temperature = 1.0 if temperature is None else float(temperature)
        text_seed = f"{self.seed}|{digest}" + (f"|{occurrence}" if temperature > 0 else "")
        completion = sim_model.complete(body, random.Random(text_seed))
        timing = random.Random(f"timing|{self.seed}|{digest}|{occurrence}")
        profile = self.timing.get(completion.model) or config.TIMING[completion.model]
        ttft = timing.uniform(profile.ttft_min_s, profile.ttft_max_s)
        jitter = profile.speed_jitter
        rate = profile.tokens_per_s * (1 + timing.uniform(-jitter, jitter))
        record.input_tokens = completion.input_tokens
        record.planned_output_tokens = completion.output_tokens
        record.thinking_tokens = completion.thinking_tokens
        record.scheduled_ttft_s = ttft
        record.scheduled_total_s = ttft + max(completion.output_tokens - 1, 0) / rate
        self._record(record)
        message_id = self.new_id("msg_")
        headers = {"request-id": record.request_id}
        late_fault = faults.stream_fault(digest, record.retry_count, occurrence)
        if not record.stream:
            if late_fault == "disconnect":
                # the connection drops before the answer arrives: nothing is delivered
                record.fault = late_fault
                return SimResponse(
                    200,
                    {**headers, "content-type": "application/json"},
                    delay_s=record.scheduled_total_s,
                    record=record,
                    drop=True,
                    release=lambda: self._finish_plain(record, delivered=False),
                )
            message = message_json(message_id, completion)
            return SimResponse(
                200,
                {**headers, "content-type": "application/json"},
                dumps(message),
                delay_s=record.scheduled_total_s,
                record=record,
                release=lambda: self._finish_plain(record, delivered=True),
            )
        cut = None
        if late_fault is not None:
            record.fault = late_fault
            total = completion.output_tokens
            cut = int(total * timing.uniform(0.2, 0.8)) if total > 1 else 0
        plan = StreamPlan(
            message_id=message_id,
            completion=completion,
            ttft=ttft,
            rate=rate,
            record=record,
            on_close=self._release,
            fault=late_fault,
            cut=cut,
        )
        return SimResponse(
            200,
            {**headers, "content-type": "text/event-stream", "cache-control": "no-cache"},
            stream=plan,
            record=record,
        )

    def _finish_plain(self, record: RequestRecord, *, delivered: bool) -> None:
        """A non-streamed answer is generated in full whether or not it arrives."""
        if record.ended is not None:
            return
        record.generated_tokens = record.planned_output_tokens
        record.delivered_tokens = record.planned_output_tokens if delivered else 0
        record.completed = delivered
        record.ended = time.perf_counter()
        self._release(record)

    def _fault_error(self, fault: str, faults: Faults) -> ApiError:
        if fault == "rate_limit":
            return self._retry_after_error(
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
                faults.retry_after_s,
            )
        if fault == "overloaded":
            return self._retry_after_error("overloaded_error", "Overloaded", faults.retry_after_s)
        return ApiError("api_error", "Internal server error")

    @staticmethod
    def _retry_after_error(kind: str, message: str, wait_sim_s: float) -> ApiError:
        """An error whose headers say how long to wait, in real time (the SDK sleeps that).

        `retry-after-ms` is at least 1: the SDK ignores a zero and falls back to
        its own exponential backoff (0.5 s and up), which would make time scale 0 slow.
        `retry-after` is whole seconds, rounded up, for clients that only read that.
        """
        real = clock.to_real(wait_sim_s)
        headers = {
            "retry-after-ms": str(max(1, round(real * 1000))),
            "retry-after": str(math.ceil(real)),
        }
        return ApiError(kind, message, headers=headers)


def _retry_count(headers: Mapping[str, str]) -> int:
    """The SDK's retry counter header; anything unparsable counts as a first try."""
    try:
        return max(0, int(headers.get("x-stainless-retry-count", "0") or 0))
    except ValueError:
        return 0


def digest_of(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
