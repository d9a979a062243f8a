"""POST /v1/messages (not streamed) and count_tokens, through the real SDK.

Each behaviour is checked in-process (sync and async transports) and over the
loopback HTTP server, always with strict response validation.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from simulator_support import (
    LARGE,
    MODEL,
    ask,
    async_client,
    async_http_client,
    sync_client,
    sync_sdk,
    user,
)

from stream_or_queue import config
from stream_or_queue.simulator import RunningServer, Simulator, serve_in_thread

WAYS = ["inproc", "http"]


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=3)


@pytest.fixture
def server(sim: Simulator) -> Iterator[RunningServer]:
    with serve_in_thread(sim) as running:
        yield running


@pytest.mark.parametrize("way", WAYS)
def test_create_returns_a_valid_message_recorded_in_the_ledger(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        message = client.messages.create(**ask("What is a message queue?"))
    assert message.type == "message" and message.role == "assistant"
    assert message.model == MODEL
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert len(message.content) == 1 and message.content[0].type == "text"
    text = message.content[0].text
    assert "queue" in text.lower()
    record = sim.find(message._request_id or "")
    assert record is not None and record.status == 200 and record.completed
    assert message.usage.output_tokens == record.planned_output_tokens == record.delivered_tokens
    assert message.usage.input_tokens == record.input_tokens > 0
    assert message.usage.service_tier == "standard"
    assert message.id.startswith("msg_")


@pytest.mark.anyio
async def test_async_create_and_count_tokens_in_process(sim: Simulator) -> None:
    async with async_client(sim) as client:
        message = await client.messages.create(**ask("What is a message queue?"))
        counted = await client.messages.count_tokens(
            model=MODEL, messages=user("What is a message queue?")
        )
    assert message.content[0].type == "text" and message.content[0].text
    assert counted.input_tokens == message.usage.input_tokens


@pytest.mark.anyio
async def test_async_create_over_http(sim: Simulator, server: RunningServer) -> None:
    async with async_http_client(server.url) as client:
        message = await client.messages.create(**ask("What is a message queue?"))
    assert message.stop_reason == "end_turn"
    assert sim.find(message._request_id or "") is not None


@pytest.mark.parametrize("way", WAYS)
def test_count_tokens_matches_the_input_usage(sim: Simulator, way: str) -> None:
    params = ask("Count me, please: a few words.", system="Be brief.")
    with sync_sdk(sim, way) as client:
        counted = client.messages.count_tokens(
            model=params["model"], messages=params["messages"], system=params["system"]
        )
        message = client.messages.create(**params)
    assert counted.input_tokens == message.usage.input_tokens
    longer = ask("Count me, please: a few words. And many more words than before, really.")
    with sync_client(sim) as client:
        assert (
            client.messages.count_tokens(model=MODEL, messages=longer["messages"]).input_tokens
            > counted.input_tokens - 3
        )  # the system prompt is gone, the text grew


def test_dated_model_id_is_accepted_and_reported(sim: Simulator) -> None:
    dated = next(alias for alias, canonical in config.MODEL_ALIASES.items() if canonical == MODEL)
    with sync_client(sim) as client:
        message = client.messages.create(**{**ask("hello there"), "model": dated})
    assert message.model == MODEL


def test_the_large_model_answers_too(sim: Simulator) -> None:
    with sync_client(sim) as client:
        message = client.messages.create(**{**ask("hello there"), "model": LARGE})
    assert message.model == LARGE
    record = sim.find(message._request_id or "")
    assert record is not None
    profile = config.TIMING[LARGE]
    assert profile.ttft_min_s <= record.scheduled_ttft_s <= profile.ttft_max_s


# --- what the model says -------------------------------------------------------------------


def _text(client: anthropic.Anthropic, **params: object) -> str:
    message = client.messages.create(**{**ask(""), **params})
    block = message.content[0]
    assert block.type == "text"
    return block.text


def test_system_prompt_changes_the_task(sim: Simulator) -> None:
    expense = "Taxi from the airport to the client office, $42.50, receipt attached."
    with sync_client(sim) as client:
        plain = _text(client, messages=user(expense), extra_body={"temperature": 0})
        judged = _text(
            client,
            system="You review expenses. Answer APPROVE or REJECT with a one-line reason.",
            messages=user(expense),
            extra_body={"temperature": 0},
        )
    assert judged.startswith("APPROVE")
    assert not plain.startswith(("APPROVE", "REJECT"))


@pytest.mark.parametrize(
    ("expense", "verdict"),
    [
        ("Team dinner with alcohol, $80.", "REJECT"),
        ("Hotel for the conference, $1,250.00.", "REJECT"),
        ("Train ticket to Lyon, $64.", "APPROVE"),
    ],
)
def test_expense_classification_follows_the_policy(
    sim: Simulator, expense: str, verdict: str
) -> None:
    with sync_client(sim) as client:
        answer = _text(client, messages=user(f"Approve or reject this expense: {expense}"))
    assert answer.split(":")[0] == verdict


def test_product_description_uses_the_given_fields(sim: Simulator) -> None:
    prompt = (
        "Write a product description.\nName: Trailblazer Flask\n"
        "Features: double-wall steel\nFor: hikers"
    )
    with sync_client(sim) as client:
        text = _text(client, messages=user(prompt))
    assert "Trailblazer Flask" in text and "double-wall steel" in text and "hikers" in text


def test_ticket_classification_picks_one_listed_category(sim: Simulator) -> None:
    prompt = (
        "Classify this ticket. Categories: billing, bug, account\nI was charged twice on my card."
    )
    with sync_client(sim) as client:
        text = _text(client, messages=user(prompt))
    assert text in {"billing", "bug", "account"}


def test_requested_word_count_is_roughly_met(sim: Simulator) -> None:
    with sync_client(sim) as client:
        text = _text(client, max_tokens=4000, messages=user("Write a 300-word essay about queues."))
    assert 270 <= len(text.split()) <= 330


def test_summary_reuses_sentences_of_the_text(sim: Simulator) -> None:
    source = (
        "Queues decouple producers from consumers. Workers pull jobs when they are free. "
        "Retries with backoff absorb flaky upstream services. A dashboard shows progress to users."
    )
    with sync_client(sim) as client:
        text = _text(client, messages=user(f"Summarize in two sentences: {source}"))
    assert text.startswith("Queues decouple producers from consumers. ")
    assert text.count(". ") + 1 == 2 and text.endswith(".")
    assert all(s.strip(". ") in source for s in text.split(". "))


def test_multi_turn_answer_builds_on_the_previous_answer(sim: Simulator) -> None:
    follow_up = "And what about retries?"

    def two_turns(first_question: str) -> tuple[str, str]:
        with sync_client(sim) as client:
            first = _text(client, messages=user(first_question), extra_body={"temperature": 0})
            second = _text(
                client,
                extra_body={"temperature": 0},
                messages=[
                    {"role": "user", "content": first_question},
                    {"role": "assistant", "content": first},
                    {"role": "user", "content": follow_up},
                ],
            )
        return first, second

    queues_first, about_queues = two_turns("Explain background queues")
    streams_first, about_streams = two_turns("Explain token streaming")
    assert about_queues != about_streams
    # the follow-up recalls the first answer's opening point, then answers the new question
    for first, second in ((queues_first, about_queues), (streams_first, about_streams)):
        opening = first.split("\n\n")[0].rstrip(".")
        assert opening[1:] in second
        assert "retries" in second.lower()


# --- generation controls --------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
def test_max_tokens_cuts_the_answer(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        full = client.messages.create(
            **ask("Write a 200-word note on queues.", extra_body={"temperature": 0})
        )
        cut = client.messages.create(
            **ask("Write a 200-word note on queues.", extra_body={"temperature": 0}, max_tokens=7)
        )
    assert cut.stop_reason == "max_tokens"
    assert cut.usage.output_tokens == 7
    assert full.usage.output_tokens > 7
    full_text, cut_text = full.content[0], cut.content[0]
    assert full_text.type == "text" and cut_text.type == "text"
    assert full_text.text.startswith(cut_text.text)


@pytest.mark.parametrize("way", WAYS)
def test_stop_sequence_ends_the_answer_where_it_appears(sim: Simulator, way: str) -> None:
    params = ask("Write a 100-word note on queues.", extra_body={"temperature": 0})
    with sync_sdk(sim, way) as client:
        full = client.messages.create(**params)
        block = full.content[0]
        assert block.type == "text"
        words = block.text.split()
        stop = words[len(words) // 2]
        stopped = client.messages.create(**params, stop_sequences=["NEVER-SEEN", stop])
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == stop
    stopped_block = stopped.content[0]
    assert stopped_block.type == "text"
    assert stop not in stopped_block.text
    assert block.text.startswith(stopped_block.text)
    assert stopped.usage.output_tokens < full.usage.output_tokens


def test_temperature_zero_is_deterministic(sim: Simulator) -> None:
    with sync_client(sim) as client:
        answers = {
            _text(client, messages=user("Tell me about retries"), extra_body={"temperature": 0})
            for _ in range(4)
        }
    assert len(answers) == 1


def test_temperature_above_zero_varies_but_repeats_with_the_seed() -> None:
    def three_answers(seed: int) -> list[str]:
        with sync_client(Simulator(seed=seed)) as client:
            return [
                _text(
                    client, messages=user("Tell me about retries"), extra_body={"temperature": 0.8}
                )
                for _ in range(3)
            ]

    first = three_answers(seed=11)
    assert len(set(first)) > 1
    assert three_answers(seed=11) == first
    assert three_answers(seed=12) != first


def test_same_request_same_seed_same_timing() -> None:
    def timing(seed: int) -> tuple[float, float]:
        sim = Simulator(seed=seed)
        with sync_client(sim) as client:
            client.messages.create(**ask("hello there"))
        record = sim.ledger[-1]
        return record.scheduled_ttft_s, record.scheduled_total_s

    assert timing(5) == timing(5)
    assert timing(5) != timing(6)


def test_seeded_outputs_are_pinned() -> None:
    """Notebooks are committed with outputs computed from these seeds.

    If this test fails, a change altered what a seeded simulator says or when:
    every notebook with simulator output must be re-executed (tell the lead).
    """
    from test_simulator_tools import QUESTION, TOOLS

    sim = Simulator(seed=0)
    with sync_client(sim) as client:
        chat = client.messages.create(**ask("Tell me about queues and streams"))
        product = client.messages.create(
            **ask("Write a product description.\nName: Lamp\nFor: reading")
        )
        tool = client.messages.create(**ask(QUESTION, tools=TOOLS))
    assert chat.content[0].text.startswith(
        "Stream when a person is waiting for the words, queue when what they want is"
    )
    assert product.content[0].text == (
        "The Lamp is a well-made everyday essential. Designed with reading in mind, it fits "
        "the way you work and live. Simple, practical and made to last."
    )
    call = tool.content[1]
    assert call.type == "tool_use" and call.id == "toolu_Gpy5PFUvpnHWDfDRNqYVs8Pf"
    assert call.input == {"query": "research agent takes minutes"}
    assert [r.request_id for r in sim.ledger] == [
        "req_B5h1tZagQqGfhm0A7P1puzFW",
        "req_bOrzk5h2nGhUMo2nFeuN5uz0",
        "req_8yUwVYBjtKIAzcclmozYQxtp",
    ]
    timing = [(round(r.scheduled_ttft_s, 6), round(r.scheduled_total_s, 6)) for r in sim.ledger]
    assert timing == [(0.401343, 1.600791), (0.671563, 0.933137), (0.389731, 0.491757)]
    assert [r.planned_output_tokens for r in sim.ledger] == [195, 37, 15]
