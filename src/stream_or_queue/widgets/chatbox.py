"""ChatBox: a streaming chat with a Stop button that really stops the model.

The answer streams from an asyncio task over `AsyncAnthropic`, so the cell that
sent it returns at once, the kernel stays free, and the Stop button's handler
runs while the task waits for the next token. The task writes to widget *values*
(never `with output:`), which is what updates live in JupyterLab.

Two details make it feel right:

* Updates are coalesced: the transcript is re-rendered at most
  `max_updates_per_s` times a second (trailing edge included), so a stream of
  thousands of tokens a second costs a few dozen renders and never lags.
* Stop closes the upstream stream (see `streaming.AsyncCancellableStream`), and
  the widget shows what that saved: planned minus generated tokens from the
  simulator's ledger offline, or an upper bound from `max_tokens` live.

Each answer plays on a simulated timeline of its own (`clock.simulated(pace=...)`),
paced at the box's clock: a person sees it arrive in real time, while its figures
(time to first token, tokens/s, what a stop saved) are read off the timeline, so
they are the model's own and the same on every run, however busy the machine.

Programmatic use, for tests and notebooks run by nbval:

>>> chat = ChatBox()
>>> task = chat.send("Why stream?")      # returns the asyncio task (None if refused)
>>> await chat.wait_for_tokens(20)
>>> chat.stop_button.click()
>>> turn = await task                    # a Turn: reply, stats, saved
"""

from __future__ import annotations

import asyncio
import html
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import ipywidgets as widgets

from .. import clock, config
from ..llm import async_client
from ..simulator import Simulator
from ..streaming import AsyncCancellableStream, Savings, StreamStats, savings
from ._static import LiveForm

__all__ = ["ChatBox", "Coalescer", "Snapshot", "Turn"]

DEFAULT_MAX_UPDATES_PER_S = 30.0
MAX_MESSAGE_CHARS = 20_000
_HANDOFF_TIMEOUT_S = 5.0
"""A safety net: the stream never waits longer than this for a `wait_for_tokens` caller."""


@dataclass
class Turn:
    """One exchange: what the user asked, what came back, and how it went."""

    user: str
    reply: str
    stats: StreamStats
    saved: Savings | None = None
    error: str | None = None

    @property
    def cancelled(self) -> bool:
        return self.stats.cancelled


@dataclass(frozen=True)
class Snapshot:
    """A widget's state frozen as text and HTML (what a static notebook viewer can show)."""

    text: str
    html: str

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html


class Coalescer:
    """Run `render` at most once per `min_interval_s`, and always after the last poke.

    `poke()` renders at once if the last render is old enough; otherwise it
    schedules one render for when the interval is up (a trailing edge), so the
    last token of a burst is never left unrendered. `flush()` renders now.
    """

    def __init__(self, render: Callable[[], None], min_interval_s: float) -> None:
        if min_interval_s < 0:
            raise ValueError("min_interval_s must be >= 0")
        self._render = render
        self.min_interval_s = min_interval_s
        self._last = float("-inf")
        self._pending: asyncio.TimerHandle | None = None
        self.renders = 0

    def poke(self) -> None:
        if self._pending is not None:
            return
        wait = self._last + self.min_interval_s - time.perf_counter()
        if wait <= 0:
            self._fire()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self._fire)

    def flush(self) -> None:
        self.cancel()
        self._fire()

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _fire(self) -> None:
        self._pending = None
        self._last = time.perf_counter()
        self.renders += 1
        self._render()


class ChatBox(LiveForm, widgets.VBox):
    """Input, Send, Stop, a transcript and live figures, streaming from `AsyncAnthropic`.

    Every part is a public widget (`input`, `send_button`, `stop_button`,
    `transcript`, `stats`, `status`) so tests can click and read values headless.
    The conversation (`history`) is sent with every message, so follow-ups can
    depend on the previous answer; a stopped answer stays in it as far as it got.
    Its saved form (`LiveForm`) is the finished turns and the last answer's figures.
    """

    static_name = "ChatBox"

    def __init__(
        self,
        *,
        model: str = config.LARGE_MODEL,
        max_tokens: int = 1024,
        system: str | None = None,
        client: anthropic.AsyncAnthropic | None = None,
        simulator: Simulator | None = None,
        max_updates_per_s: float = DEFAULT_MAX_UPDATES_PER_S,
        placeholder: str = "Ask something, then press Send",
        speed: float = 1.0,
        time_scale: float | None = None,
    ) -> None:
        if config.canonical_model(model) not in config.PRICES:
            raise ValueError(f"unknown model {model!r}; known: {sorted(config.PRICES)}")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        if max_updates_per_s <= 0:
            raise ValueError("max_updates_per_s must be > 0")
        self.speed = speed
        if time_scale is not None:
            config.check_time_scale(time_scale)
        self._pinned_scale = time_scale
        self.model = model
        self.max_tokens = max_tokens
        self.system = system
        self.simulator = simulator
        self._client = client
        self.history: list[dict[str, str]] = []
        self.turns: list[Turn] = []
        self.task: asyncio.Task[Turn] | None = None
        self.state = "idle"
        self.last_token_real: float | None = None
        """`perf_counter()` when the latest token arrived (benchmarks compare renders to it)."""
        self.rendered_tokens = 0
        """Tokens of the current (or last) answer shown by the latest transcript render."""
        self.last_render_real: float | None = None
        """`perf_counter()` of the latest transcript render."""
        self._stream: AsyncCancellableStream | None = None
        self._pending_user = ""
        self._past_html = ""
        self._token_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._handoff: asyncio.Future[None] | None = None
        """Set when `wait_for_tokens` was released: the stream pauses until the waiter ran."""
        self._coalescer = Coalescer(self._render, 1.0 / max_updates_per_s)

        self.input = widgets.Text(placeholder=placeholder, layout=widgets.Layout(flex="1"))
        self.send_button = widgets.Button(
            description="Send",
            button_style="primary",
            icon="paper-plane",
            tooltip="Send the message",
        )
        self.stop_button = widgets.Button(
            description="Stop",
            button_style="danger",
            icon="stop",
            disabled=True,
            tooltip="Stop the answer (the model stops too)",
        )
        # column-reverse anchors the scroll position to the bottom: the transcript follows
        # the newest text, and a reader who scrolled up stays where they are
        self.transcript = widgets.HTML(
            layout=widgets.Layout(
                max_height="320px",
                overflow="auto",
                border="1px solid #ddd",
                padding="4px 8px",
                display="flex",
                flex_flow="column-reverse",
            )
        )
        self.stats = widgets.HTML()
        self.status = widgets.HTML()
        for part, name in (
            (self, "soq-chat"),
            (self.input, "soq-chat-input"),
            (self.send_button, "soq-chat-send"),
            (self.stop_button, "soq-chat-stop"),
            (self.transcript, "soq-chat-transcript"),
            (self.stats, "soq-chat-stats"),
            (self.status, "soq-chat-status"),
        ):
            part.add_class(name)
        self.send_button.on_click(lambda _: self.send())
        with warnings.catch_warnings():
            # ipywidgets 8 deprecates on_submit in favour of observing `value` with
            # continuous_update=False, which would also send when the box loses focus
            warnings.simplefilter("ignore", DeprecationWarning)
            self.input.on_submit(lambda _: self.send())  # Enter sends
        self.stop_button.on_click(lambda _: self.stop())
        super().__init__(
            [
                self.transcript,
                widgets.HBox([self.input, self.send_button, self.stop_button]),
                self.stats,
                self.status,
            ]
        )
        self._render()
        self._set_status("Ready.")

    # --- public API -------------------------------------------------------------------

    @property
    def speed(self) -> float:
        """How fast answers play, relative to the real model (1.0 = real time, 0.25 = a model
        four times slower). A person is watching, so the box follows `config.HUMAN_TIME_SCALE`,
        not the notebook's time scale; figures stay in simulated seconds either way."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"speed must be a positive number (1.0 = real time), got {value!r}")
        if config.human_time_scale() / value > 10:
            raise ValueError(f"speed {value} is too slow: at least 0.1 of real time")
        self._speed = float(value)

    @property
    def time_scale(self) -> float:
        """Real seconds per simulated second of this box's answers: the human clock over
        `speed`, unless the box was given its own `time_scale` (a cell that measures at a
        chosen clock, e.g. 1.0 to keep a Stop test exact whatever the suite's clock)."""
        if self._pinned_scale is not None:
            return self._pinned_scale
        return config.human_time_scale() / self._speed

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = async_client()
        return self._client

    @property
    def streaming(self) -> bool:
        return self.task is not None and not self.task.done()

    @property
    def render_count(self) -> int:
        """How many times the transcript was re-rendered (coalescing keeps this small)."""
        return self._coalescer.renders

    @property
    def reply_tokens(self) -> int:
        """Text deltas received for the answer in progress (or the last one)."""
        return len(self._stream.stats.pieces) if self._stream is not None else 0

    @property
    def total_cost(self) -> float:
        return sum(t.stats.cost for t in self.turns)

    def send(self, text: str | None = None) -> asyncio.Task[Turn] | None:
        """Send `text` (default: the input box) and stream the answer in a task.

        Returns the task, or None when nothing was sent: the reason is shown in
        `status` (empty message, too long, or an answer still streaming).
        """
        message = self.input.value if text is None else text
        if not isinstance(message, str) or not message.strip():
            self._set_status("Type a message before pressing Send: nothing was sent.", "warn")
            return None
        if len(message) > MAX_MESSAGE_CHARS:
            self._set_status(
                f"That message has {len(message):,} characters; the limit here is "
                f"{MAX_MESSAGE_CHARS:,}. Nothing was sent.",
                "warn",
            )
            return None
        if self.streaming:
            self._set_status("An answer is still streaming: wait for it or press Stop.", "warn")
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "ChatBox.send needs a running asyncio event loop (Jupyter has one; in a "
                "script, call it from inside `asyncio.run(...)`)."
            ) from None
        message = message.strip()
        if text is None:
            self.input.value = ""
        self._pending_user = message
        stream = AsyncCancellableStream(
            self.client,
            on_text=self._on_text,
            **self._request([*self.history, {"role": "user", "content": message}]),
        )
        self._stream = stream
        self.state = "streaming"
        self.send_button.disabled = True
        self.stop_button.disabled = False
        self._set_status("Streaming…")
        self._render()
        self.task = loop.create_task(self._run(message, stream))
        return self.task

    def stop(self) -> None:
        """Stop the answer in progress (what the Stop button does); no-op when idle."""
        if self._stream is None or not self.streaming or self._stream.cancelled:
            return
        self.state = "stopping"
        self._set_status("Stopping…")
        self._stream.cancel()

    async def wait(self) -> Turn | None:
        """Wait for the answer in progress (if any) and return the latest turn."""
        if self.task is not None:
            await asyncio.shield(self.task)
        return self.turns[-1] if self.turns else None

    async def wait_for_tokens(self, count: int, timeout_s: float = 30.0) -> int:
        """Wait until the answer in progress has `count` tokens (or has ended).

        Returns the tokens received so far. Raises TimeoutError after `timeout_s`
        real seconds, so a notebook can never hang here. The stream waits for the
        caller in turn: it reads no further token until the caller's code after this
        `await` has run up to its next `await`, so `await chat.wait_for_tokens(40)`
        followed by a Stop click stops after exactly 40 tokens, however fast they come.
        """
        if self._stream is None or not self.streaming or self.reply_tokens >= count:
            return self.reply_tokens
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._token_waiters.append((count, future))
        assert self.task is not None
        waiting: set[asyncio.Future[Any]] = {future, self.task}
        try:
            await asyncio.wait_for(
                asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED), timeout_s
            )
        finally:
            self._release_handoff()
        return self.reply_tokens

    def _release_handoff(self) -> None:
        handoff, self._handoff = self._handoff, None
        if handoff is not None and not handoff.done():
            handoff.set_result(None)

    def clear(self) -> None:
        """Forget the conversation (the next message starts a new one)."""
        if self.streaming:
            raise RuntimeError("stop the answer in progress before clearing the chat")
        self.history.clear()
        self.turns.clear()
        self._past_html = ""
        self._stream = None
        self._render()
        self.stats.value = ""
        self._set_status("Ready.")

    def __repr__(self) -> str:
        """A short text form: the model and the turns finished when it was shown."""
        turns = len(self.turns)
        said = f" · {turns} turn{'s' if turns != 1 else ''}" if turns else ""
        # no "0 turns": a box is usually shown before its first answer arrives
        return f"ChatBox · {self.model}{said} (a live widget: run the notebook to chat)"

    def snapshot(self) -> Snapshot:
        """The transcript and figures as they are now, as static text and HTML.

        A widget is live only in a running notebook; a reader of the committed notebook
        (GitHub, nbviewer) sees this instead. Display it after the answer has ended
        (`await chat.wait()`), so it shows what the widget showed.
        """
        lines = [repr(self)]
        for turn in self.turns:
            mark = (
                " [stopped]" if turn.cancelled else f" [failed: {turn.error}]" if turn.error else ""
            )
            lines += [f"You: {turn.user}", f"Assistant: {turn.reply}{mark}"]
        figures = html.unescape(re.sub(r"<br>", "\n", self.stats.value))
        figures = re.sub(r"<[^>]+>", "", figures).strip()
        if figures:
            lines.append(figures)
        page = (
            f"<div class='soq-chat-snapshot'>{self.transcript.value}"
            f"<div>{self.stats.value}</div></div>"
        )
        return Snapshot("\n".join(lines), page)

    def static_text(self) -> str:
        """The finished turns and figures (an answer still streaming is only mentioned: its
        text depends on when the form was made)."""
        lines = [f"{self.model} · {len(self.turns)} turn{'s' if len(self.turns) != 1 else ''}"]
        for turn in self.turns:
            mark = (
                " [stopped]" if turn.cancelled else f" [failed: {turn.error}]" if turn.error else ""
            )
            lines += [f"You: {turn.user}", f"Assistant: {turn.reply}{mark}"]
        if self.turns:
            last = self.turns[-1]
            figures = html.unescape(self._stats_html(last.stats, last.saved).replace("<br>", "\n"))
            lines.append(re.sub(r"<[^>]+>", "", figures).strip())
        if self.streaming:
            lines.append("(an answer was streaming when this was saved)")
        return "\n".join(lines)

    def static_html(self) -> str:
        body = self._past_html or "<i>No messages yet.</i>"
        figures = ""
        if self.turns:
            last = self.turns[-1]
            figures = f"<div>{self._stats_html(last.stats, last.saved)}</div>"
        streaming = "<div><i>(an answer was streaming when this was saved)</i></div>"
        return f"{body}{figures}{streaming if self.streaming else ''}"

    # --- the task ------------------------------------------------------------------------

    def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": messages,
        }
        if self.system:
            params["system"] = self.system
        return params

    def _on_text(self, _: str) -> None:
        self.last_token_real = time.perf_counter()
        if self._token_waiters:
            have = self.reply_tokens
            keep = []
            for count, future in self._token_waiters:
                if have >= count and not future.done():
                    if self._handoff is None:
                        self._handoff = asyncio.get_running_loop().create_future()
                    future.set_result(None)
                elif not future.done():
                    keep.append((count, future))
            self._token_waiters = keep
        self._coalescer.poke()

    async def _run(self, message: str, stream: AsyncCancellableStream) -> Turn:
        # The task's own context: this answer plays at the box's speed, other cells keep
        # theirs. Its figures are read off a simulated timeline of its own, played back at
        # that speed: a person watches it in real time, the figures stay exact.
        with (
            config.time_scale_in_context(self.time_scale),
            clock.simulated(pace=self.time_scale),
        ):
            return await self._play(message, stream)

    async def _play(self, message: str, stream: AsyncCancellableStream) -> Turn:
        error: str | None = None
        try:
            async with stream:
                async for _ in stream:
                    # Give the loop a turn after every token: when tokens are already
                    # waiting (the task fell behind), the stream would otherwise run
                    # without pausing, and a Stop click or another cell would wait.
                    await asyncio.sleep(0)
                    handoff = self._handoff
                    if handoff is not None:  # a wait_for_tokens caller goes first
                        await asyncio.wait({handoff}, timeout=_HANDOFF_TIMEOUT_S)
        except anthropic.APIError as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
        except asyncio.CancelledError:
            # The task itself was cancelled (not the Stop button): tidy up, then obey.
            self._complete(message, stream, None)
            raise
        return self._complete(message, stream, error)

    def _complete(self, message: str, stream: AsyncCancellableStream, error: str | None) -> Turn:
        self._coalescer.cancel()
        for _, future in self._token_waiters:
            if not future.done():
                future.set_result(None)
        self._token_waiters = []
        self._release_handoff()
        stats = stream.stats
        turn = Turn(user=message, reply=stats.text, stats=stats, error=error)
        if stats.cancelled:
            turn.saved = savings(stats, self.simulator)
        self._finish(turn)
        return turn

    def _finish(self, turn: Turn) -> None:
        self.turns.append(turn)
        reply = turn.reply
        if turn.error is None and (reply.strip() or not turn.cancelled):
            self.history.append({"role": "user", "content": turn.user})
            self.history.append({"role": "assistant", "content": reply or "(no answer)"})
        self._past_html += self._turn_html(turn.user, reply, turn)
        self._pending_user = ""
        self.state = "error" if turn.error else "stopped" if turn.cancelled else "done"
        self.send_button.disabled = False
        self.stop_button.disabled = True
        self._render()
        self.stats.value = self._stats_html(turn.stats, turn.saved)
        if turn.error:
            self._set_status(f"The answer failed: {turn.error}", "error")
        elif turn.cancelled:
            self._set_status("Stopped: the model stopped generating too.", "stopped")
        else:
            self._set_status("Done.")

    # --- rendering -------------------------------------------------------------------------

    def _render(self) -> None:
        live = ""
        stream = self._stream
        shown = len(stream.stats.pieces) if stream is not None else 0
        if self._pending_user and stream is not None:
            live = self._turn_html(self._pending_user, stream.stats.text, None)
            self.stats.value = self._stats_html(stream.stats, None)
        body = self._past_html + live
        if not body:
            body = "<i style='color:#888'>No messages yet.</i>"
        self.rendered_tokens = shown
        self.last_render_real = time.perf_counter()
        self.transcript.value = f"<div class='soq-chat-log'>{body}</div>"

    @staticmethod
    def _turn_html(user: str, reply: str, turn: Turn | None) -> str:
        style = "white-space:pre-wrap;margin:4px 0"
        if turn is None:
            tail = "<span class='soq-cursor'>▌</span>"
        elif turn.error:
            failure = html.escape(turn.error)
            tail = f" <span class='soq-error' style='color:#b00'>[failed: {failure}]</span>"
        elif turn.cancelled:
            tail = " <span class='soq-stopped' style='color:#b60'>[stopped]</span>"
        else:
            tail = ""
        return (
            f"<div class='soq-user' style='{style}'><b>You:</b> {html.escape(user)}</div>"
            f"<div class='soq-assistant' style='{style}'><b>Assistant:</b> "
            f"{html.escape(reply)}{tail}</div>"
        )

    def _stats_html(self, stats: StreamStats, saved: Savings | None) -> str:
        parts = []
        ttft = stats.ttft_s
        parts.append(
            f"time to first token {ttft:.2f} s" if ttft is not None else "time to first token —"
        )
        rate = stats.tokens_per_s
        parts.append(f"{rate:.0f} tokens/s" if rate is not None else "— tokens/s")
        parts.append(f"tokens {stats.input_tokens:,} in + {stats.output_tokens:,} out")
        parts.append(f"cost ${stats.cost:.5f}")
        line = " · ".join(parts) + " <span style='color:#888'>(simulated s)</span>"
        if len(self.turns) > 1 and saved is None:
            line += f"<br>conversation so far: {len(self.turns)} turns, ${self.total_cost:.5f}"
        if saved is not None:
            how = "from the simulator's ledger" if saved.exact else "estimate, up to max_tokens"
            line += (
                f"<br><b class='soq-saved'>Stopped after {saved.generated_tokens:,} of "
                f"{saved.planned_tokens:,} tokens: saved {saved.tokens:,} tokens "
                f"(${saved.dollars:.5f})</b> <span style='color:#888'>({how})</span>"
            )
        return f"<span class='soq-chat-figures'>{line}</span>"

    def _set_status(self, text: str, kind: str = "info") -> None:
        colour = {"warn": "#b60", "error": "#b00", "stopped": "#b60"}.get(kind, "#555")
        self.status.value = (
            f"<span class='soq-status-{kind}' style='color:{colour}'>{html.escape(text)}</span>"
        )
