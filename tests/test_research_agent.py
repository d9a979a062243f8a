"""The research assistant's corpus, tools and agent loop, against the simulator via the real SDK."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from stream_or_queue import config
from stream_or_queue.research import (
    CORPUS,
    QUESTIONS,
    ProgressEvent,
    Toolbox,
    UnknownDocument,
    arun_research,
    cited_ids,
    document,
    run_research,
    search,
)
from stream_or_queue.research.result import ResearchResult, ResearchTrace
from stream_or_queue.simulator import Simulator

CITATION_ID = re.compile(r"\b[a-z]{2,10}-\d{1,4}\b")  # what the simulated model cites


@pytest.fixture(autouse=True)
def _instant(simulator: Simulator) -> None:
    """Tool durations and model timings are simulated; the loop's logic needs no waiting."""
    config.set_time_scale(0.0)


class DictSteps:
    """A step runner that remembers results in a dict and counts real executions."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}
        self.executions: dict[str, int] = {}

    def step(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if name in self.results:
            return self.results[name]
        self.executions[name] = self.executions.get(name, 0) + 1
        value = fn(*args, **kwargs)
        self.results[name] = value
        return value


def test_corpus_ids_match_what_the_model_cites() -> None:
    assert 30 <= len(CORPUS) <= 60
    assert all(CITATION_ID.fullmatch(doc.id) for doc in CORPUS)
    assert len({doc.id for doc in CORPUS}) == len(CORPUS)
    assert len(QUESTIONS) >= 50 and len(set(QUESTIONS)) == len(QUESTIONS)


def test_search_ranks_the_obvious_document_first() -> None:
    hits = search("load balancer idle timeout")
    assert hits[0].document.title == "Load balancer idle timeouts"
    assert search("zzzz qqqq") == []
    with pytest.raises(ValueError, match="non-empty"):
        search("   ")


def test_unknown_document_is_a_clear_error_and_a_tool_error_result() -> None:
    with pytest.raises(UnknownDocument, match="doc-1 to doc-"):
        document("doc-999")
    outcome = Toolbox().plan("read_document", {"doc_id": "doc-999"})
    assert outcome.is_error and "no document" in outcome.output
    assert Toolbox().plan("search", {}).is_error
    assert Toolbox().plan("take_notes", {"note": ""}).is_error
    assert Toolbox().plan("delete_everything", {}).is_error


def test_tool_durations_are_the_same_every_time() -> None:
    first = Toolbox().plan("search", {"query": "edge timeouts"})
    again = Toolbox().plan("search", {"query": "edge timeouts"})
    assert first.duration_s == again.duration_s > 0
    read = Toolbox().plan("read_document", {"doc_id": "doc-3"})
    assert read.duration_s >= config.RESEARCH_READ_BASE_S * 0.9


def test_an_answer_has_four_paragraphs_and_real_sources() -> None:
    events: list[ProgressEvent] = []
    result = run_research(QUESTIONS[0], progress=events.append)
    assert 5 <= len(result.tool_calls) <= 8
    assert result.paragraphs == 4
    assert result.sources and all(s.title == document(s.id).title for s in result.sources)
    assert {s.id for s in result.sources} == set(cited_ids(result.answer))
    assert result.cost_usd > 0 and all(u.model == config.LARGE_MODEL for u in result.usage)
    steps = {e["step"] for e in events}
    assert {"searching", "reading", "writing", "done"} <= steps
    percents = [e["percent"] for e in events]
    assert percents == sorted(percents) and percents[-1] == 100


def test_result_round_trips_through_json_data() -> None:
    result = run_research(QUESTIONS[1])
    again = ResearchResult.from_dict(result.as_dict())
    assert again.answer == result.answer and again.sources == result.sources
    assert again.cost_usd == pytest.approx(result.cost_usd)


def test_async_twin_runs_the_same_loop() -> None:
    sync = run_research(QUESTIONS[2])
    texts: list[str] = []
    result = asyncio.run(arun_research(QUESTIONS[2], on_text=texts.append))
    assert [t.name for t in result.tool_calls] == [t.name for t in sync.tool_calls]
    assert result.paragraphs == 4
    assert result.answer in "".join(texts)  # the answer was streamed as it was written


def test_checkpointed_steps_are_replayed_not_redone() -> None:
    steps = DictSteps()
    first = run_research(QUESTIONS[4], steps=steps)
    assert all(count == 1 for count in steps.executions.values())
    second = run_research(QUESTIONS[4], steps=steps)
    assert all(count == 1 for count in steps.executions.values())  # nothing ran again
    assert second.answer == first.answer
    assert second.executed_steps == [] and second.replayed_steps == first.executed_steps


def test_a_run_cut_short_leaves_a_trace_of_the_work_done() -> None:
    trace = ResearchTrace()

    def stop_after_two_tools(event: ProgressEvent) -> None:
        if len(trace.tool_calls) >= 2:
            raise KeyboardInterrupt  # the request was cut

    with pytest.raises(KeyboardInterrupt):
        run_research(QUESTIONS[5], progress=stop_after_two_tools, trace=trace)
    assert len(trace.tool_calls) == 2 and trace.cost_usd > 0 and trace.answer == ""


@pytest.mark.parametrize("bad", ["", "   ", "x" * 2001, 42])
def test_bad_questions_are_refused_before_any_work(bad: Any, simulator: Simulator) -> None:
    with pytest.raises(ValueError):
        run_research(bad)
    assert simulator.stats()["requests"] == 0
