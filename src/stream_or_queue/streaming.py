"""Streaming, measured: time to first token, throughput, and a Stop that really stops.

A streamed answer has two latencies that a plain call hides: the *time to first
token* (how long the user stares at nothing) and the *total time* (when the answer
is complete). `measure_stream` records both, plus the arrival time of every text
delta, so a notebook can plot the token timeline. `measure_call` times a plain,
non-streamed call for comparison.

Stopping a stream must stop the *upstream* generation, not just the printing:
`CancellableStream` and `AsyncCancellableStream` close the SDK stream (and with it
the HTTP response) when cancelled, which is what makes the server stop producing -
and billing - tokens. The async twin interrupts a pending read at once; the sync
one stops at the next event from the server (within one token interval once
tokens flow), because a blocking read cannot be interrupted safely from another
thread. Every duration here is in simulated seconds (see `stream_or_queue.clock`): inside
`clock.simulated()` they are read off a simulated timeline, exact and the same on every run.

Sync and async twins have parallel names: `measure_stream` / `ameasure_stream`,
`measure_call` / `ameasure_call`, `CancellableStream` / `AsyncCancellableStream`.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anthropic

from . import clock, config
from .llm import cost, token_cost
from .simulator import RequestRecord, Simulator, default_simulator

__all__ = [
    "AsyncCancellableStream",
    "CallStats",
    "CancellableStream",
    "Savings",
    "StreamStats",
    "ameasure_call",
    "ameasure_stream",
    "measure_call",
    "measure_stream",
    "percentile",
    "savings",
    "tokens_due_at",
    "tokens_due_by",
    "upstream_record",
]

TextCallback = Callable[[str], None]


# --- what a measurement holds ---------------------------------------------------------


@dataclass
class StreamStats:
    """One streamed answer, measured as it arrived (durations in simulated seconds).

    `arrivals[i]` is when the i-th text delta arrived, counted from the moment the
    request was sent. The object is filled in while the stream runs, so a widget
    can read it mid-stream.
    """

    model: str
    max_tokens: int
    arrivals: list[float] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    input_tokens: int = 0
    reported_output_tokens: int = 0
    stop_reason: str | None = None
    cancelled: bool = False
    """True when the stream was closed before the answer ended (a stop, not an error)."""
    error: str | None = None
    """The exception that ended the stream, if one did (e.g. an overloaded_error event)."""
    request_id: str | None = None
    total_s: float | None = None
    started_real: float = field(default_factory=time.perf_counter)
    cancel_requested_real: float | None = None
    """Wall-clock `perf_counter()` when `cancel()` was called (for benchmarks)."""
    cancel_requested_s: float | None = None
    """Simulated seconds after the request when `cancel()` was called (on a simulated
    timeline: exactly when the last event before the stop arrived)."""
    closed_real: float | None = None
    """Wall-clock `perf_counter()` when the upstream stream was closed."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def ttft_s(self) -> float | None:
        """Time to first token: how long the user saw nothing (None if no text came)."""
        return self.arrivals[0] if self.arrivals else None

    @property
    def output_tokens(self) -> int:
        """Output tokens received: the API's count, or the deltas seen if it stopped early."""
        return max(self.reported_output_tokens, len(self.pieces))

    @property
    def generation_s(self) -> float | None:
        """From the first to the last text delta: the time spent producing text."""
        if len(self.arrivals) < 2:
            return None
        return self.arrivals[-1] - self.arrivals[0]

    @property
    def tokens_per_s(self) -> float | None:
        """Output speed after the first token (None for answers of a token or two)."""
        span = self.generation_s
        if span is None or span <= 0:
            return None
        return (self.output_tokens - 1) / span

    @property
    def usage(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}

    @property
    def cost(self) -> float:
        """US dollars for the tokens of this answer (a stopped stream bills what was sent)."""
        return cost(self.usage, self.model)

    def timeline(self) -> list[tuple[float, int]]:
        """(simulated seconds, tokens received so far) after each delta, for plotting."""
        return [(t, i + 1) for i, t in enumerate(self.arrivals)]

    def summary(self) -> dict[str, Any]:
        """The headline figures, rounded, for a table row."""
        rate = self.tokens_per_s
        return {
            "model": self.model,
            "ttft_s": _round(self.ttft_s),
            "total_s": _round(self.total_s),
            "output_tokens": self.output_tokens,
            "tokens_per_s": _round(rate, 1),
            "cost_usd": round(self.cost, 6),
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class CallStats:
    """One plain (non-streamed) call: the user sees nothing until `latency_s` has passed."""

    model: str
    latency_s: float
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str | None
    request_id: str | None

    @property
    def cost(self) -> float:
        return token_cost(self.input_tokens, self.output_tokens, self.model)


@dataclass(frozen=True)
class Savings:
    """What stopping a stream saved: output tokens that were never generated, in dollars.

    `source` says where the figure comes from: the simulator's ledger (planned vs
    generated, exact) or an upper-bound estimate from `max_tokens` (live mode, where
    nobody can know how long the answer would have been).
    """

    tokens: int
    dollars: float
    generated_tokens: int
    planned_tokens: int
    source: str

    @property
    def exact(self) -> bool:
        return self.source == "simulator ledger"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (p50 = median, p95 = 95% of values at or below it)."""
    if not values:
        raise ValueError("percentile of an empty list is undefined")
    if not 0 < pct <= 100:
        raise ValueError(f"pct must be in (0, 100], got {pct}")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


# --- the event handling shared by both twins ---------------------------------------------


def _params(params: dict[str, Any]) -> tuple[str, int]:
    if "stream" in params:
        raise TypeError("do not pass stream=...: these helpers choose streamed or not themselves")
    try:
        return str(params["model"]), int(params["max_tokens"])
    except KeyError as exc:
        raise TypeError(f"missing Messages API parameter: {exc.args[0]}") from None


def _on_event(stats: StreamStats, event: Any, watch: clock.Stopwatch) -> str | None:
    """Fold one SDK stream event into `stats`; return the text it carried, if any."""
    kind = event.type
    if kind == "content_block_delta" and event.delta.type == "text_delta":
        stats.arrivals.append(watch.elapsed)
        stats.pieces.append(event.delta.text)
        return str(event.delta.text)
    if kind == "message_start":
        usage = event.message.usage
        stats.input_tokens = int(usage.input_tokens or 0)
        stats.reported_output_tokens = int(usage.output_tokens or 0)
    elif kind == "message_delta":
        stats.reported_output_tokens = int(event.usage.output_tokens or 0)
        stats.stop_reason = event.delta.stop_reason
    return None


# --- sync --------------------------------------------------------------------------------


class CancellableStream:
    """A streamed answer you can stop from any thread; stopping closes the upstream stream.

    >>> with CancellableStream(client, model=..., max_tokens=..., messages=...) as stream:
    ...     for text in stream:
    ...         print(text, end="")
    ...         if enough:
    ...             stream.cancel()
    >>> stream.stats.ttft_s, stream.stats.cancelled

    `cancel()` is thread-safe. The iterating thread notices it at the next event from
    the server and closes the SDK stream there, which closes the HTTP response; the
    server then stops generating. Leaving the `with` block early closes it as well.
    """

    def __init__(
        self,
        client: anthropic.Anthropic,
        *,
        on_text: TextCallback | None = None,
        **params: Any,
    ) -> None:
        model, max_tokens = _params(params)
        self._client = client
        self._params = params
        self._on_text = on_text
        self._cancel = threading.Event()
        self._manager: Any = None
        self._stream: Any = None
        self._watch: clock.Stopwatch | None = None
        self.stats = StreamStats(model=model, max_tokens=max_tokens)

    def __enter__(self) -> CancellableStream:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> None:
        if self._manager is not None:
            return
        self._watch = clock.Stopwatch()
        self.stats.started_real = self._watch.started
        self._manager = self._client.messages.stream(**self._params)
        self._stream = self._manager.__enter__()
        self.stats.request_id = self._stream.request_id

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the stream to stop (safe from any thread, idempotent)."""
        if not self._cancel.is_set():
            self.stats.cancel_requested_real = time.perf_counter()
            if self._watch is not None:
                self.stats.cancel_requested_s = self._watch.elapsed
            self._cancel.set()

    def close(self) -> None:
        """Close the upstream stream now (from the iterating thread)."""
        if self._manager is None or self.stats.closed_real is not None:
            return
        finished = self.stats.stop_reason is not None
        self._manager.__exit__(None, None, None)
        self.stats.closed_real = time.perf_counter()
        if self._watch is not None and self.stats.total_s is None:
            self.stats.total_s = self._watch.elapsed
        if not finished and self.stats.error is None:
            self.stats.cancelled = True

    def __iter__(self) -> Iterator[str]:
        """Yield the text deltas until the answer ends or `cancel()` is called."""
        if self._cancel.is_set():
            self.close()
            return
        self._open()
        assert self._watch is not None
        try:
            for event in self._stream:
                if self._cancel.is_set():
                    break
                text = _on_event(self.stats, event, self._watch)
                if text is not None:
                    if self._on_text is not None:
                        self._on_text(text)
                    yield text
                if self._cancel.is_set():
                    break
        except Exception as exc:
            self.stats.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.close()


def measure_stream(
    client: anthropic.Anthropic,
    *,
    cancel: threading.Event | None = None,
    stop_after_tokens: int | None = None,
    on_text: TextCallback | None = None,
    **params: Any,
) -> StreamStats:
    """Stream one answer and measure it: TTFT, total time, throughput, the token timeline.

    Stops early (closing the upstream stream) when `cancel` is set - by another
    thread, say - or after `stop_after_tokens` text deltas. `params` are the
    Messages API parameters (`model`, `max_tokens`, `messages`, ...).
    """
    stream = CancellableStream(client, on_text=on_text, **params)
    with stream:
        for _ in stream:
            if (cancel is not None and cancel.is_set()) or (
                stop_after_tokens is not None and len(stream.stats.pieces) >= stop_after_tokens
            ):
                stream.cancel()
    return stream.stats


def measure_call(client: anthropic.Anthropic, **params: Any) -> CallStats:
    """Time one plain `messages.create` call (not streamed), in simulated seconds."""
    model, _ = _params(params)
    watch = clock.Stopwatch()
    message = client.messages.create(**params)
    return _call_stats(model, watch.elapsed, message)


def _call_stats(model: str, latency: float, message: Any) -> CallStats:
    text = "".join(b.text for b in message.content if b.type == "text")
    return CallStats(
        model=model,
        latency_s=latency,
        text=text,
        input_tokens=int(message.usage.input_tokens),
        output_tokens=int(message.usage.output_tokens),
        stop_reason=message.stop_reason,
        request_id=getattr(message, "_request_id", None),
    )


# --- async ---------------------------------------------------------------------------------


class AsyncCancellableStream:
    """The asyncio twin of `CancellableStream`: `cancel()` takes effect at once.

    >>> async with AsyncCancellableStream(aclient, model=..., max_tokens=..., messages=...) as s:
    ...     async for text in s:
    ...         ...
    >>> # elsewhere on the same event loop, e.g. a Stop button's handler:
    >>> s.cancel()

    When `cancel()` is called while the stream waits for the server, the wait is
    interrupted (the waiting task gets a CancelledError that this class absorbs)
    and the SDK stream is closed right there, so the server stops generating
    within the current token interval. Call `cancel()` from the event loop's
    thread, or from any thread: it hops onto the loop if needed.
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        on_text: TextCallback | None = None,
        **params: Any,
    ) -> None:
        model, max_tokens = _params(params)
        self._client = client
        self._params = params
        self._on_text = on_text
        self._cancel_requested = False
        self._manager: Any = None
        self._stream: Any = None
        self._watch: clock.Stopwatch | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: asyncio.Task[Any] | None = None
        self._interrupted = False
        self.stats = StreamStats(model=model, max_tokens=max_tokens)

    async def __aenter__(self) -> AsyncCancellableStream:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _open(self) -> None:
        if self._manager is not None or self._cancel_requested:
            return
        self._loop = asyncio.get_running_loop()
        self._watch = clock.Stopwatch()
        self.stats.started_real = self._watch.started
        manager = self._client.messages.stream(**self._params)
        self._stream = await self._guarded(manager.__aenter__())
        if self._stream is None:
            return
        self._manager = manager
        self.stats.request_id = self._stream.request_id

    @property
    def cancelled(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> None:
        """Stop the stream: interrupt a pending read and close upstream (idempotent)."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and _other_thread(loop):
            loop.call_soon_threadsafe(self.cancel)
            return
        if self._cancel_requested:
            return
        self._cancel_requested = True
        self.stats.cancel_requested_real = time.perf_counter()
        if self._watch is not None:
            self.stats.cancel_requested_s = self._watch.elapsed
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            self._interrupted = True
            waiting.cancel()

    async def _guarded(self, awaitable: Any) -> Any:
        """Await `awaitable`; if `cancel()` interrupts it, absorb that and return None."""
        self._waiting = asyncio.current_task()
        try:
            return await awaitable
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
            self._interrupted = False
            task = asyncio.current_task()
            if task is not None and task.uncancel() > 0:
                raise  # someone else cancelled the task too: let it go
            return None
        finally:
            self._waiting = None

    async def aclose(self) -> None:
        """Close the upstream stream now (idempotent)."""
        if self.stats.closed_real is not None:
            return
        finished = self.stats.stop_reason is not None
        if self._manager is not None:
            await self._manager.__aexit__(None, None, None)
        self.stats.closed_real = time.perf_counter()
        if self._watch is not None and self.stats.total_s is None:
            self.stats.total_s = self._watch.elapsed
        if not finished and self.stats.error is None:
            self.stats.cancelled = True

    async def __aiter__(self) -> AsyncIterator[str]:
        """Yield the text deltas until the answer ends or `cancel()` is called."""
        try:
            await self._open()
            if self._stream is None:
                return
            assert self._watch is not None
            events = self._stream.__aiter__()
            while not self._cancel_requested:
                event = await self._guarded(_next_or_none(events))
                if event is None:
                    break
                text = _on_event(self.stats, event, self._watch)
                if text is not None:
                    if self._on_text is not None:
                        self._on_text(text)
                    yield text
        except Exception as exc:
            self.stats.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            await self.aclose()


_END = None


async def _next_or_none(events: AsyncIterator[Any]) -> Any:
    try:
        return await events.__anext__()
    except StopAsyncIteration:
        return _END


def _other_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True


async def ameasure_stream(
    client: anthropic.AsyncAnthropic,
    *,
    cancel: asyncio.Event | None = None,
    stop_after_tokens: int | None = None,
    on_text: TextCallback | None = None,
    **params: Any,
) -> StreamStats:
    """The async twin of `measure_stream`: setting `cancel` stops the stream at once."""
    stream = AsyncCancellableStream(client, on_text=on_text, **params)
    watcher: asyncio.Task[Any] | None = None

    def _stop(_: object) -> None:
        stream.cancel()

    if cancel is not None:
        if cancel.is_set():
            stream.cancel()
        watcher = asyncio.ensure_future(cancel.wait())
        watcher.add_done_callback(_stop)
    try:
        async with stream:
            async for _ in stream:
                if stop_after_tokens is not None and len(stream.stats.pieces) >= stop_after_tokens:
                    stream.cancel()
    finally:
        if watcher is not None:
            watcher.remove_done_callback(_stop)
            watcher.cancel()
    return stream.stats


async def ameasure_call(client: anthropic.AsyncAnthropic, **params: Any) -> CallStats:
    """The async twin of `measure_call`."""
    model, _ = _params(params)
    watch = clock.Stopwatch()
    message = await client.messages.create(**params)
    return _call_stats(model, watch.elapsed, message)


# --- what a stop saved ------------------------------------------------------------------------


def upstream_record(
    request_id: str | None, simulator: Simulator | None = None
) -> RequestRecord | None:
    """The simulator's ledger entry for a request id (None live, or if it is not there)."""
    if request_id is None or config.mode() == "live":
        return None
    sim = simulator or default_simulator()
    for record in reversed(list(sim.ledger)):
        if record.request_id == request_id:
            return record
    return None


def tokens_due_at(record: RequestRecord, when_real: float) -> int:
    """Output tokens the simulated model had produced at `when_real` (a `perf_counter()` time).

    The wall-clock twin of `tokens_due_by`, for streams played at the time scale.
    """
    return tokens_due_by(record, clock.to_sim(when_real - record.started))


def tokens_due_by(record: RequestRecord, elapsed: float) -> int:
    """Output tokens the simulated model had produced `elapsed` simulated seconds after
    the request (e.g. `StreamStats.cancel_requested_s`, the moment Stop was pressed).

    Reconstructed from the request's schedule in the ledger (first token, last token,
    planned tokens), so a notebook can compare "what the model had produced when Stop
    was pressed" with what the ledger says it generated in the end.
    """
    if elapsed < record.scheduled_ttft_s or record.planned_output_tokens == 0:
        return 0
    span = record.scheduled_total_s - record.scheduled_ttft_s
    if span <= 0:
        return record.planned_output_tokens
    rate = (record.planned_output_tokens - 1) / span
    due = math.floor((elapsed - record.scheduled_ttft_s) * rate + 1e-9) + 1
    return min(record.planned_output_tokens, due)


def savings(stats: StreamStats, simulator: Simulator | None = None) -> Savings:
    """Tokens and dollars a stop saved.

    Offline, the simulator's ledger knows how long the answer was going to be
    (planned) and how much was generated before the stream closed: the difference
    is exact. Live, the most it could have been is `max_tokens`, so the figure is
    an upper-bound estimate and says so in `source`.
    """
    record = upstream_record(stats.request_id, simulator)
    if record is not None and record.ended is not None:
        planned, generated = record.planned_output_tokens, record.generated_tokens
        source = "simulator ledger"
    else:
        planned, generated = stats.max_tokens, stats.output_tokens
        source = "estimate: up to max_tokens"
    saved = max(0, planned - generated) if stats.cancelled else 0
    return Savings(
        tokens=saved,
        dollars=token_cost(0, saved, stats.model),
        generated_tokens=generated,
        planned_tokens=planned,
        source=source,
    )
