"""Tool use: a research agent loop against the simulated model, through the real SDK.

The model plans 5-8 tool calls per question (search first, then read the ids the
search returned, taking notes), streams each call's input as `input_json_delta`,
and finally writes four paragraphs citing the documents it read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from simulator_support import (
    MODEL,
    ask,
    async_client,
    raw_client,
    raw_stream_events,
    sync_client,
    sync_sdk,
)

from stream_or_queue.simulator import RunningServer, Simulator, serve_in_thread
from stream_or_queue.simulator.model import planned_tool_calls

TOOLS: list[dict[str, Any]] = [
    {
        "name": "search",
        "description": "Search the library; returns document ids and titles.",
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
    {
        "name": "read_document",
        "description": "Read one document by id.",
        "input_schema": {
            "type": "object",
            "properties": {"doc_id": {"type": "string"}},
            "required": ["doc_id"],
        },
    },
    {
        "name": "take_notes",
        "description": "Write down a finding.",
        "input_schema": {
            "type": "object",
            "properties": {"note": {"type": "string"}},
            "required": ["note"],
        },
    },
]

CORPUS = {
    "doc-12": "Queues let workers retry failed calls with backoff: flaky upstreams lose no work.",
    "doc-31": "Streaming tokens lowers the time to first token but not the total time to answer.",
    "doc-47": "Edge proxies cut idle requests after about sixty seconds, which breaks long agents.",
    "doc-58": "Batch APIs halve the price of work that can wait a few hours for its results.",
}
QUESTION = "Should a research agent that takes two minutes stream or queue its answer?"


def run_tool(name: str, tool_input: dict[str, Any], notes: list[str]) -> str:
    if name == "search":
        return "\n".join(f"{doc_id}: {text.split(',')[0]}" for doc_id, text in CORPUS.items())
    if name == "read_document":
        doc_id = tool_input["doc_id"]
        return f"{doc_id}: {CORPUS.get(doc_id, 'No such document.')}"
    notes.append(tool_input["note"])
    return f"Noted ({len(notes)} notes so far)."


def agent_loop(client: anthropic.Anthropic, question: str = QUESTION) -> tuple[list[Any], str]:
    """Stream every turn; feed tool results back until the model writes its answer."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    calls: list[Any] = []
    notes: list[str] = []
    for _ in range(12):  # bounded: the plan has at most 8 calls
        with client.messages.stream(**ask("", messages=messages, tools=TOOLS)) as stream:
            message = stream.get_final_message()
        messages.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
        if message.stop_reason != "tool_use":
            text = "".join(b.text for b in message.content if b.type == "text")
            return calls, text
        results = []
        for block in message.content:
            if block.type == "tool_use":
                calls.append(block)
                output = run_tool(block.name, block.input, notes)
                results.append({"type": "tool_result", "tool_use_id": block.id, "content": output})
        messages.append({"role": "user", "content": results})
    raise AssertionError("the agent never finished")


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=5)


@pytest.fixture
def server(sim: Simulator) -> Iterator[RunningServer]:
    with serve_in_thread(sim) as running:
        yield running


def _check_research(calls: list[Any], answer: str, question: str = QUESTION) -> None:
    assert 5 <= len(calls) <= 8
    assert len(calls) == planned_tool_calls(question)
    names = [call.name for call in calls]
    assert names[0] == "search"
    assert {"read_document", "take_notes"} <= set(names)
    read_ids = [call.input["doc_id"] for call in calls if call.name == "read_document"]
    assert read_ids and set(read_ids) <= set(CORPUS)
    assert len(set(read_ids)) == len(read_ids), "the model reads each document once"
    assert all(call.id.startswith("toolu_") for call in calls)
    paragraphs = [p for p in answer.split("\n\n") if p.strip()]
    assert len(paragraphs) == 4
    cited = re.findall(r"\[([a-z]+-\d+)\]", answer)
    assert len(cited) == 4 and set(cited) <= set(CORPUS)


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_research_agent_round_trip(sim: Simulator, way: str) -> None:
    with sync_sdk(sim, way) as client:
        calls, answer = agent_loop(client)
    _check_research(calls, answer)
    # every turn was a complete, uncancelled stream
    turns = [r for r in sim.ledger if r.endpoint == "POST /v1/messages"]
    assert len(turns) == len(calls) + 1
    assert all(r.completed and not r.cancelled for r in turns)


@pytest.mark.anyio
async def test_research_agent_round_trip_async(sim: Simulator) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    calls: list[Any] = []
    notes: list[str] = []
    answer = ""
    async with async_client(sim) as client:
        for _ in range(12):
            async with client.messages.stream(**ask("", messages=messages, tools=TOOLS)) as stream:
                message = await stream.get_final_message()
            messages.append(
                {"role": "assistant", "content": [b.model_dump() for b in message.content]}
            )
            if message.stop_reason != "tool_use":
                answer = "".join(b.text for b in message.content if b.type == "text")
                break
            results = []
            for block in message.content:
                if block.type == "tool_use":
                    calls.append(block)
                    output = run_tool(block.name, block.input, notes)
                    results.append(
                        {"type": "tool_result", "tool_use_id": block.id, "content": output}
                    )
            messages.append({"role": "user", "content": results})
    _check_research(calls, answer)


def test_the_plan_length_depends_on_the_question(sim: Simulator) -> None:
    lengths = {planned_tool_calls(f"question number {i}") for i in range(40)}
    assert lengths == {5, 6, 7, 8}
    other = "How do batch discounts change the cost of nightly jobs?"
    with sync_client(sim) as client:
        calls, answer = agent_loop(client, other)
    _check_research(calls, answer, other)


def test_tool_input_is_streamed_as_input_json_delta(sim: Simulator) -> None:
    body = ask(QUESTION, tools=TOOLS)
    with raw_client(sim) as http:
        events = raw_stream_events(http.post, body)
    starts = [data for name, data in events if name == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
    tool_start = starts[1]["content_block"]
    assert tool_start["input"] == {} and tool_start["name"] == "search"
    index = starts[1]["index"]
    partial = [
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["index"] == index
    ]
    assert len(partial) > 1, "the input arrives in pieces"
    assert all(
        data["delta"]["type"] == "input_json_delta"
        for name, data in events
        if name == "content_block_delta" and data["index"] == index
    )
    assert set(json.loads("".join(partial))) == {"query"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"

    # the SDK's stream helper accumulates those pieces into the same input
    with sync_client(sim) as client, client.messages.stream(**body) as stream:
        final = stream.get_final_message()
    tool_use = final.content[1]
    assert tool_use.type == "tool_use"
    assert tool_use.input == json.loads("".join(partial))


def test_forced_tool_choice_and_none(sim: Simulator) -> None:
    with sync_client(sim) as client:
        forced = client.messages.create(
            **ask(QUESTION, tools=TOOLS, tool_choice={"type": "tool", "name": "take_notes"})
        )
        none = client.messages.create(**ask(QUESTION, tools=TOOLS, tool_choice={"type": "none"}))
    assert forced.stop_reason == "tool_use"
    assert [b.name for b in forced.content if b.type == "tool_use"] == ["take_notes"]
    assert none.stop_reason == "end_turn"
    assert all(b.type == "text" for b in none.content)


def test_answer_without_tools_is_plain_text(sim: Simulator) -> None:
    with sync_client(sim) as client:
        message = client.messages.create(**ask(QUESTION))
    assert message.stop_reason == "end_turn" and message.model == MODEL


def test_tool_arguments_follow_each_fields_type_and_name(sim: Simulator) -> None:
    """Numbers, flags and lists get a plain value; ids come from what tools returned."""
    lookup = {
        "name": "lookup",
        "input_schema": {
            "type": "object",
            "properties": {
                "limit": {"type": "integer"},
                "score": {"type": "number"},
                "exact": {"type": "boolean"},
                "tags": {"type": "array"},
                "doc_id": {"type": "string"},
                "topic": {"type": "string"},
                "summary": {},
                "source": {"type": ["string", "null"]},
            },
        },
    }
    forced = {"type": "tool", "name": "lookup"}
    with sync_client(sim) as client:
        first = client.messages.create(**ask(QUESTION, tools=[lookup], tool_choice=forced))
        [call] = [b for b in first.content if b.type == "tool_use"]
        assert set(call.input) == set(lookup["input_schema"]["properties"])  # type: ignore[index]
        assert (call.input["limit"], call.input["score"]) == (3, 3)
        assert call.input["exact"] is True and call.input["tags"] == []
        assert call.input["doc_id"] == "doc-1", "nothing found yet: a first document"
        assert set(call.input["topic"].split()) <= set(QUESTION.lower().strip("?").split())
        assert call.input["summary"].startswith("Key point: ")
        assert call.input["source"] == call.input["summary"]
        found = "doc-12: queues\ndoc-31: streaming"
        second = client.messages.create(
            **ask(
                "",
                messages=[
                    {"role": "user", "content": QUESTION},
                    {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": call.id, "content": found}
                        ],
                    },
                ],
                tools=[lookup],
                tool_choice=forced,
            )
        )
    [again] = [b for b in second.content if b.type == "tool_use"]
    assert again.input["doc_id"] == "doc-12", "the first id the last result named"
    assert again.input["summary"] == "Key point: " + found.replace("\n", " ")
    assert again.input["topic"] != call.input["topic"], "a later search varies its terms"
