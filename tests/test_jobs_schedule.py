"""A job's own schedule: stated waits plus the simulator's schedule, whatever the wall clock did."""

from __future__ import annotations

import pytest

from stream_or_queue import config
from stream_or_queue.jobs import JobSchedule, tasks
from stream_or_queue.jobs.schedule import scheduled
from stream_or_queue.llm import client
from stream_or_queue.simulator import Simulator, reset_default_simulator

QUESTION = [{"role": "user", "content": "What should I check before buying a heat pump?"}]


def test_a_model_call_counts_the_time_the_simulator_scheduled_for_it(
    simulator: Simulator,
) -> None:
    schedule = JobSchedule()
    with config.time_scale_set_to(0.0):
        schedule.sleep(25.0)
        message = schedule.create(
            client(), model=config.LARGE_MODEL, max_tokens=200, messages=QUESTION
        )
    record = simulator.find(message._request_id)
    assert record is not None and record.scheduled_total_s > 0
    assert scheduled(message._request_id) is record
    assert schedule.elapsed_s == pytest.approx(25.0 + record.scheduled_total_s)


def test_a_call_with_no_schedule_to_read_counts_what_it_measurably_took(
    simulator: Simulator,
) -> None:
    private = client(simulator=Simulator(seed=1))  # its ledger is not the shared one
    schedule = JobSchedule()
    with config.time_scale_set_to(0.0):  # on which nothing measurably takes time
        message = schedule.create(
            private, model=config.LARGE_MODEL, max_tokens=200, messages=QUESTION
        )
    assert scheduled(message._request_id) is None
    assert schedule.elapsed_s == 0.0


def test_a_report_takes_the_same_simulated_time_at_any_time_scale(simulator: Simulator) -> None:
    with config.time_scale_set_to(0.0):
        instant = tasks.slow_report("heat pumps", sections=["Summary", "Risks"])
    reset_default_simulator(Simulator(seed=1))  # the same requests, the same seeded answers
    with config.time_scale_set_to(0.001):
        played = tasks.slow_report("heat pumps", sections=["Summary", "Risks"])
    assert played["seconds"] == instant["seconds"]
    assert instant["seconds"] > 2 * config.REPORT_GATHER_S  # gathering, then the model writing


def test_unknown_request_ids_have_no_schedule(simulator: Simulator) -> None:
    assert scheduled(None) is None
    assert scheduled("") is None
    assert scheduled("req_not_made_here") is None


def test_a_negative_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        JobSchedule().sleep(-1.0)
