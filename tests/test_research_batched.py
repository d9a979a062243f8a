"""v3's batch submit is keyed: a crash between creating the batch and recording it
cannot pay for a second batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from stream_or_queue import config
from stream_or_queue.llm import client as make_client
from stream_or_queue.research.batched import run_research_v3
from stream_or_queue.simulator import Simulator

T = TypeVar("T")
QUESTION = "Why batch the parts of an agent that can wait?"


class Crash(Exception):
    """The process died: what the step did outside is done, its result unrecorded."""


class Record:
    """A step record (what DBOS keeps) that can die right after one step's body ran."""

    def __init__(self, die_after: str | None = None) -> None:
        self.done: dict[str, Any] = {}
        self.die_after = die_after

    def step(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if name in self.done:
            return self.done[name]
        result = fn(*args, **kwargs)
        if name == self.die_after:
            self.die_after = None
            raise Crash(name)
        self.done[name] = result
        return result


@pytest.mark.parametrize("crash", [None, "write-submit"])
def test_a_crash_after_creating_the_batch_does_not_create_a_second(
    simulator: Simulator, crash: str | None
) -> None:
    client = make_client()
    record = Record(die_after=crash)
    with config.time_scale_set_to(0.0):
        if crash:
            with pytest.raises(Crash):
                run_research_v3(QUESTION, client=client, steps=record, poll_s=1.0)
        result = run_research_v3(QUESTION, client=client, steps=record, poll_s=1.0)
    batches = client.messages.batches.list(limit=10).data
    assert len(batches) == 1
    assert result.answer and result.sources
    assert any(u.batch for u in result.usage)  # written by the batch, not a live fallback
