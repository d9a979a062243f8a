"""`research.compare`'s second process, and v1's two runs side by side.

The claims of the results table are asserted in test_research_claims.py; the
rig's routes and the single measurements in test_research_service.py.
"""

from __future__ import annotations

import os
import time

import pytest

from stream_or_queue import config
from stream_or_queue.research import QUESTIONS, compare
from stream_or_queue.research.compare import (
    _SecondProcess,
    available_cores,
    measure_v1,
    summarize_runs,
)
from stream_or_queue.research.users import users
from stream_or_queue.simulator import Simulator

pytestmark = pytest.mark.serial  # measures on the wall clock: runs alone (Makefile)


def test_a_second_process_runs_the_function_elsewhere_and_returns_its_result() -> None:
    with _SecondProcess(os.getpid, 0) as second:
        assert second.result() != os.getpid()


def test_a_second_process_starts_from_this_process_s_time_scale() -> None:
    with config.time_scale_set_to(0.123), _SecondProcess(config.time_scale, 0) as second:
        assert second.result() == pytest.approx(0.123)


def test_a_failure_in_the_second_process_says_what_went_wrong() -> None:
    with (
        _SecondProcess(summarize_runs, 0, []) as second,
        pytest.raises(RuntimeError, match="no runs to summarize"),
    ):
        second.result()


def test_a_second_process_that_runs_too_long_is_stopped() -> None:
    started = time.perf_counter()
    with _SecondProcess(time.sleep, 0, 60) as second:
        with pytest.raises(RuntimeError, match="took over"):
            second.result(timeout_s=0.5)
        assert second._process.poll() is not None
    assert time.perf_counter() - started < 15  # stopped, not waited for


def test_leaving_the_block_early_stops_the_second_process() -> None:
    with _SecondProcess(time.sleep, 0, 60) as second:
        pass
    assert second._process.poll() is not None


@pytest.mark.slow
def test_v1_is_measured_with_patient_and_with_real_users_side_by_side(
    simulator: Simulator,
) -> None:
    chosen = list(QUESTIONS[:3])
    patient, real = measure_v1(chosen, seed=5)
    assert [r.question for r in patient] == [r.question for r in real] == chosen
    assert all(r.patience_s == float("inf") for r in patient)
    assert [r.patience_s for r in real] == [u.patience_s for u in users(3, seed=5)]
    assert not any(r.abandoned for r in patient)  # only the edge can end a patient request
    assert all(r.cost_usd > 0 for r in patient + real)  # each side billed its own runs


def test_available_cores_honours_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.CORES_ENV, "1")
    assert available_cores() == 1
    monkeypatch.setenv(config.CORES_ENV, "512")
    assert 1 <= available_cores() <= (os.cpu_count() or 1)  # an override never adds cores


@pytest.mark.slow
def test_with_one_core_v1_is_measured_here_one_run_after_the_other(
    monkeypatch: pytest.MonkeyPatch, simulator: Simulator
) -> None:
    def no_second_process(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a second process on a single core")

    monkeypatch.setenv(config.CORES_ENV, "1")
    monkeypatch.setattr(compare, "_SecondProcess", no_second_process)
    patient, real = measure_v1(QUESTIONS[:2], seed=5)
    assert len(patient) == len(real) == 2
    assert all(r.patience_s == float("inf") for r in patient)
