"""ChatBox, headless: click the buttons, read the widget values, check the simulator.

ipywidgets work without a front end; each test runs its own asyncio event loop
(`asyncio.run`), as the kernel's loop would run the ChatBox task in JupyterLab.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from stream_or_queue import config
from stream_or_queue.simulator import Faults, Simulator
from stream_or_queue.streaming import upstream_record
from stream_or_queue.widgets import ChatBox
from stream_or_queue.widgets.chatbox import Coalescer, Turn

T = TypeVar("T")
LONG = "Write a 3000-word essay about queues and streams."


def run(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await asyncio.wait_for(make(), timeout=60)

    return asyncio.run(main())


def test_the_registry_exports_chatbox() -> None:
    from stream_or_queue.widgets.chatbox import ChatBox as Direct

    assert ChatBox is Direct


def test_send_button_streams_an_answer_into_the_widgets(simulator: Simulator) -> None:
    async def scenario() -> tuple[ChatBox, Turn | None]:
        chat = ChatBox()
        chat.input.value = "Why do chat assistants stream?"
        chat.send_button.click()
        assert chat.streaming and chat.send_button.disabled and not chat.stop_button.disabled
        assert chat.input.value == ""  # the box is cleared once the message is sent
        return chat, await chat.wait()

    chat, turn = run(scenario)
    assert turn is not None and not turn.cancelled and turn.error is None
    assert turn.reply and turn.reply in _unescape(chat.transcript.value)
    assert "Why do chat assistants stream?" in chat.transcript.value
    assert chat.state == "done" and "Done" in chat.status.value
    assert not chat.send_button.disabled and chat.stop_button.disabled
    figures = chat.stats.value
    assert "time to first token" in figures and "tokens/s" in figures and "cost $" in figures
    assert f"{turn.stats.output_tokens:,} out" in figures
    record = upstream_record(turn.stats.request_id, simulator)
    assert record is not None and record.completed and not record.cancelled
    assert chat.history == [
        {"role": "user", "content": "Why do chat assistants stream?"},
        {"role": "assistant", "content": turn.reply},
    ]


def test_an_empty_message_is_refused_with_a_message(simulator: Simulator) -> None:
    async def scenario() -> ChatBox:
        chat = ChatBox()
        chat.input.value = "   "
        chat.send_button.click()
        assert chat.send("") is None
        assert chat.task is None and not chat.streaming
        return chat

    chat = run(scenario)
    assert "Type a message" in chat.status.value and "nothing was sent" in chat.status.value
    assert chat.input.value == "   "  # nothing the user typed is lost
    assert simulator.ledger == [] and chat.history == []


def test_a_message_that_is_too_long_is_refused(simulator: Simulator) -> None:
    async def scenario() -> ChatBox:
        chat = ChatBox()
        assert chat.send("x" * 20_001) is None
        return chat

    chat = run(scenario)
    assert "limit" in chat.status.value and simulator.ledger == []


def test_user_text_is_escaped(simulator: Simulator) -> None:
    async def scenario() -> ChatBox:
        chat = ChatBox()
        await chat.send("<script>alert('x')</script> what is a queue?")
        return chat

    chat = run(scenario)
    assert "<script>" not in chat.transcript.value
    assert "&lt;script&gt;" in chat.transcript.value


def test_stop_button_cancels_mid_stream_and_shows_the_savings(simulator: Simulator) -> None:
    async def scenario() -> tuple[ChatBox, Turn, int]:
        chat = ChatBox(max_tokens=4000)
        task = chat.send(LONG)
        assert task is not None
        seen = await chat.wait_for_tokens(30)
        chat.stop_button.click()
        assert chat.state == "stopping"
        turn = await task
        return chat, turn, seen

    chat, turn, seen = run(scenario)
    assert seen >= 30
    assert turn.cancelled and turn.saved is not None and turn.saved.exact
    record = upstream_record(turn.stats.request_id, simulator)
    assert record is not None and record.cancelled and not record.completed
    assert record.generated_tokens < record.planned_output_tokens
    assert turn.saved.tokens == record.planned_output_tokens - record.generated_tokens
    assert chat.state == "stopped" and "Stopped" in chat.status.value
    assert "saved" in chat.stats.value and f"{turn.saved.tokens:,} tokens" in chat.stats.value
    assert "[stopped]" in chat.transcript.value
    assert not chat.send_button.disabled and chat.stop_button.disabled
    # the partial answer stays in the conversation, as far as it got
    assert chat.history[-1] == {"role": "assistant", "content": turn.reply}


def test_stop_while_idle_does_nothing(simulator: Simulator) -> None:
    chat = ChatBox()
    chat.stop_button.click()
    assert chat.state == "idle" and simulator.ledger == []


def test_follow_ups_carry_the_history_and_depend_on_the_answer(simulator: Simulator) -> None:
    question = "How should I cache those answers?"

    async def scenario() -> tuple[ChatBox, Turn, Turn, Turn]:
        chat = ChatBox()
        first = await chat.send("What is time to first token in streaming chat?")
        follow = await chat.send(question)
        fresh = await ChatBox().send(question)
        return chat, first, follow, fresh

    chat, first, follow, fresh = run(scenario)
    assert [m["role"] for m in chat.history] == ["user", "assistant"] * 2
    assert chat.history[1]["content"] == first.reply
    assert follow.stats.input_tokens > fresh.stats.input_tokens  # the history was sent
    assert follow.reply != fresh.reply  # and the answer depends on it
    assert chat.total_cost == pytest.approx(first.stats.cost + follow.stats.cost)
    assert chat.transcript.value.count("soq-user") == 2


def test_a_second_send_while_streaming_is_refused(simulator: Simulator) -> None:
    async def scenario() -> ChatBox:
        chat = ChatBox()
        task = chat.send(LONG)
        await chat.wait_for_tokens(1)
        assert chat.send("another one") is None
        assert "still streaming" in chat.status.value
        chat.stop()
        await task
        return chat

    chat = run(scenario)
    assert len(simulator.ledger) == 1 and len(chat.turns) == 1


def test_stop_before_the_task_starts_sends_nothing(simulator: Simulator) -> None:
    async def scenario() -> Turn:
        chat = ChatBox()
        task = chat.send(LONG)
        chat.stop_button.click()  # before the task ran at all
        assert task is not None
        return await task

    turn = run(scenario)
    assert turn.cancelled and turn.reply == "" and simulator.ledger == []


def test_updates_are_coalesced(simulator: Simulator) -> None:
    async def scenario() -> tuple[ChatBox, Turn, float]:
        chat = ChatBox(max_tokens=4000, max_updates_per_s=30)
        started = time.perf_counter()
        turn = await chat.send(LONG)
        return chat, turn, time.perf_counter() - started

    chat, turn, elapsed = run(scenario)
    assert turn.stats.output_tokens > 1000
    # at most one render per 1/30 s, plus the ones at send and at the end
    assert chat.render_count <= elapsed * 30 + 3
    assert chat.render_count < turn.stats.output_tokens / 10
    assert turn.reply in _unescape(chat.transcript.value)  # nothing is left unrendered
    assert chat.rendered_tokens == len(turn.stats.pieces)
    assert chat.last_render_real is not None and chat.last_token_real is not None
    assert chat.last_render_real >= chat.last_token_real


def test_coalescer_renders_the_trailing_edge() -> None:
    renders: list[float] = []

    async def scenario() -> Coalescer:
        coalescer = Coalescer(lambda: renders.append(time.perf_counter()), 0.05)
        for _ in range(200):
            coalescer.poke()
        assert coalescer.renders == 1  # the first poke renders at once, the rest wait
        last_poke = time.perf_counter()
        await asyncio.sleep(0.2)
        assert coalescer.renders == 2 and renders[-1] >= last_poke  # the trailing render
        coalescer.poke()
        coalescer.flush()
        return coalescer

    coalescer = run(scenario)
    assert coalescer.renders == 4
    with pytest.raises(ValueError):
        Coalescer(lambda: None, -1)


def test_a_failed_stream_shows_the_error_and_keeps_the_history_clean() -> None:
    sim = Simulator(seed=2, faults=Faults(stream_error=1.0))

    async def scenario() -> tuple[ChatBox, Turn]:
        from stream_or_queue import async_client

        chat = ChatBox(client=async_client(simulator=sim), simulator=sim, max_tokens=4000)
        return chat, await chat.send(LONG)

    chat, turn = run(scenario)
    assert turn.error is not None and not turn.cancelled and turn.saved is None
    assert chat.state == "error" and "failed" in chat.status.value
    assert chat.history == []
    assert not chat.send_button.disabled and chat.stop_button.disabled


def test_cancelling_the_task_resets_the_widget(simulator: Simulator) -> None:
    async def scenario() -> ChatBox:
        chat = ChatBox(max_tokens=4000)
        task = chat.send(LONG)
        assert task is not None
        await chat.wait_for_tokens(5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return chat

    chat = run(scenario)
    assert chat.state == "stopped" and not chat.streaming
    assert not chat.send_button.disabled and chat.stop_button.disabled
    record = simulator.ledger[-1]
    assert record.cancelled


def test_send_outside_an_event_loop_says_what_is_needed(simulator: Simulator) -> None:
    chat = ChatBox()
    with pytest.raises(RuntimeError, match="event loop"):
        chat.send("hello")
    assert simulator.ledger == [] and chat.state == "idle"


def test_bad_constructor_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        ChatBox(model="gpt-nothing")
    with pytest.raises(ValueError, match="max_tokens"):
        ChatBox(max_tokens=0)
    with pytest.raises(ValueError, match="max_updates_per_s"):
        ChatBox(max_updates_per_s=0)


def test_clear_forgets_the_conversation(simulator: Simulator) -> None:
    async def scenario() -> ChatBox:
        chat = ChatBox(model=config.FAST_MODEL)
        await chat.send("What is a queue?")
        chat.clear()
        return chat

    chat = run(scenario)
    assert chat.history == [] and chat.turns == [] and "No messages yet" in chat.transcript.value


def _unescape(value: str) -> str:
    import html

    return html.unescape(value)


def test_text_form_is_short_and_stable() -> None:
    chat = ChatBox(model=config.FAST_MODEL)
    expected = "ChatBox · claude-haiku-4-5 (a live widget: run the notebook to chat)"
    assert repr(chat) == expected
    bundle = chat._repr_mimebundle_()
    assert isinstance(bundle, dict)
    assert bundle["text/plain"].splitlines() == [
        "ChatBox (live widget, as the notebook left it)",
        "claude-haiku-4-5 · 0 turns",
    ]
    assert "No messages yet" in bundle["text/html"]


def test_the_saved_form_is_the_whole_conversation_not_a_partial_answer(
    simulator: Simulator,
) -> None:
    async def scenario() -> tuple[ChatBox, str, str]:
        chat = ChatBox()
        chat.send("What is time to first token?")
        await chat.wait()
        chat.send("Write a 3000-word essay about queues and streams.")
        await chat.wait_for_tokens(5)
        during, _ = chat.static_forms()
        chat.stop_button.click()
        await chat.wait()
        after, page = chat.static_forms()
        return chat, during, after + "\n" + page

    chat, during, after = run(scenario)
    first, second = chat.turns
    assert "Write a 3000-word essay" not in during  # the answer in progress is only mentioned
    assert during.endswith("(an answer was streaming when this was saved)")
    assert f"Assistant: {first.reply}" in after and f"Assistant: {second.reply} [stopped]" in after
    assert second.saved is not None
    assert f"Stopped after {second.saved.generated_tokens:,} of" in after  # tokens-saved line
    assert "streaming when" not in after


def test_a_snapshot_shows_a_static_reader_the_final_transcript(simulator: Simulator) -> None:
    async def scenario() -> ChatBox:
        chat = ChatBox()
        chat.send("What is time to first token?")
        await chat.wait()
        chat.send("Write a 3000-word essay about queues and streams.")
        await chat.wait_for_tokens(5)
        chat.stop_button.click()
        await chat.wait()
        return chat

    chat = run(scenario)
    shot = chat.snapshot()
    first, second = chat.turns
    assert repr(chat).startswith("ChatBox · ") and " · 2 turns " in repr(chat)
    text = repr(shot)
    assert f"Assistant: {first.reply}" in text and f"Assistant: {second.reply} [stopped]" in text
    assert "saved" in text and "<" not in text  # the figures as plain text, tokens saved too
    page = shot._repr_html_()
    assert "soq-saved" in page and "What is time to first token?" in page


def test_enter_in_the_input_sends(simulator: Simulator) -> None:
    async def scenario() -> ChatBox:
        chat = ChatBox()
        chat.input.value = "Why stream?"
        chat.input._handle_msg(  # what the front end sends when Enter is pressed
            {
                "content": {"data": {"method": "custom", "content": {"event": "submit"}}},
                "buffers": [],
            }
        )
        await chat.wait()
        return chat

    chat = run(scenario)
    assert [t.user for t in chat.turns] == ["Why stream?"] and chat.turns[0].reply


class _ScaleSpy:
    """An httpx2 transport around the simulator's that notes the time scale each request sees."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.scales: list[float] = []

    async def handle_async_request(self, request: object) -> object:
        self.scales.append(config.time_scale())
        return await self.inner.handle_async_request(request)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await self.inner.aclose()  # type: ignore[attr-defined]


def _spied_client(simulator: Simulator) -> tuple[object, _ScaleSpy]:
    import anthropic
    import httpx2

    from stream_or_queue.simulator.transport import AsyncSimulatorTransport

    spy = _ScaleSpy(AsyncSimulatorTransport(simulator))
    client = anthropic.AsyncAnthropic(
        api_key="offline",
        base_url="http://simulator.local",
        http_client=httpx2.AsyncClient(transport=spy),  # type: ignore[arg-type]
    )
    return client, spy


@pytest.mark.slow
def test_a_person_s_answer_plays_at_the_human_clock_and_the_notebook_keeps_its_own(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(config.HUMAN_TIME_SCALE_ENV, raising=False)
    config.set_time_scale(0.002)  # a measuring notebook's clock

    async def scenario() -> tuple[list[float], float]:
        client, spy = _spied_client(simulator)
        chat = ChatBox(client=client, simulator=simulator)
        chat.send("Why stream?")
        await chat.wait_for_tokens(3)
        seen_meanwhile = config.time_scale()  # another cell, while the answer streams
        chat.stop()
        await chat.wait()
        slow = ChatBox(client=client, simulator=simulator, speed=0.25)
        slow.send("hi")
        await slow.wait_for_tokens(1)
        slow.stop()
        await slow.wait()
        return spy.scales, seen_meanwhile

    scales, meanwhile = run(scenario)
    assert scales == [config.HUMAN_TIME_SCALE, 4 * config.HUMAN_TIME_SCALE]
    assert meanwhile == 0.002


def test_speed_must_be_a_positive_number_within_the_clock_s_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(config.HUMAN_TIME_SCALE_ENV, raising=False)  # real time: 0.01 is too slow
    for bad in (0, -1.0, True, "fast", 0.01):
        with pytest.raises(ValueError, match="speed"):
            ChatBox(speed=bad)
    assert ChatBox(speed=2.0).time_scale == config.human_time_scale() / 2.0


def test_a_pinned_clock_wins_over_the_human_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.HUMAN_TIME_SCALE_ENV, raising=False)
    config.set_time_scale(0.01)  # a later cell resets the notebook's clock...
    assert ChatBox(time_scale=1.0, speed=3.0).time_scale == 1.0  # ...the box keeps its own
    with pytest.raises(ValueError, match="time scale"):
        ChatBox(time_scale=11.0)


def test_an_answer_s_figures_are_read_off_its_own_simulated_timeline(simulator: Simulator) -> None:
    """Played at the human clock, measured on a timeline: the figures are the schedule's."""

    async def scenario() -> tuple[Turn, Turn]:
        chat = ChatBox(max_tokens=4000)
        whole = await chat.send("Why do chat assistants stream?")
        task = chat.send(LONG)
        assert task is not None
        await chat.wait_for_tokens(30)
        chat.stop_button.click()
        return whole, await task

    whole, stopped = run(scenario)
    record = upstream_record(whole.stats.request_id, simulator)
    assert record is not None
    assert whole.stats.ttft_s == pytest.approx(record.scheduled_ttft_s, abs=1e-9)
    assert whole.stats.total_s == pytest.approx(record.scheduled_total_s, abs=1e-9)
    cut = upstream_record(stopped.stats.request_id, simulator)
    assert cut is not None and stopped.saved is not None
    # the click lands between two tokens: the model had written exactly what was shown
    assert cut.generated_tokens == cut.delivered_tokens == stopped.stats.output_tokens == 30
    assert stopped.stats.cancel_requested_s == stopped.stats.arrivals[-1]
    assert stopped.saved.tokens == cut.planned_output_tokens - 30
