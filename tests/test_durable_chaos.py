"""The chaos run, its script, the timeline plot and the trail table (fakeredis, bounded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from stream_or_queue.durable import CODE_VERSION_ENV, AuditTrail, timeline, trail_table
from stream_or_queue.durable.chaos import run_chaos

pytestmark = pytest.mark.serial  # measures on the wall clock: runs alone (Makefile)

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _code_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CODE_VERSION_ENV, "v1")  # fleets change it; restored afterwards


@pytest.mark.slow
def test_a_small_chaos_run_loses_nothing_and_repeats_no_finished_step(fake_redis: Any) -> None:
    result = run_chaos(
        jobs=6,
        workers=2,
        step_s=5.0,
        kill_every_s=0.1,
        max_kills=2,
        retries=3,
        seed=1,
        timeout_s=60,
    )
    assert result.kills >= 1
    assert (result.completed, result.lost, result.unfinished) == (6, 0, 0)
    assert result.finished_steps_reexecuted == 0
    assert result.extra_step_executions <= result.kills  # at most one step per crash
    assert (result.notifications, result.duplicate_notifications) == (6, 0)


@pytest.mark.slow
def test_the_naive_pipeline_repeats_work(fake_redis: Any) -> None:
    result = run_chaos(
        jobs=4,
        workers=2,
        step_s=5.0,
        kill_every_s=0.1,
        max_kills=0,
        retries=1,
        seed=0,
        durable=False,
        timeout_s=60,
    )
    assert result.mode == "naive" and result.completed == 4 and result.kills == 0
    assert result.finished_steps_reexecuted == 0 and result.interrupted_steps == 0
    assert result.step_executions == result.steps_needed == 16


@pytest.mark.parametrize(
    "bad", [{"jobs": 0}, {"workers": 0}, {"kill_every_s": 0.0}, {"timeout_s": -1.0}]
)
def test_chaos_refuses_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        run_chaos(**bad)


def test_the_chaos_script_prints_a_table(
    fake_redis: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = ROOT / "scripts" / "chaos_durable.py"
    spec = importlib.util.spec_from_file_location("chaos_durable", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    png = tmp_path / "chaos.png"
    status = script.main(
        [
            "--redis",
            "fake",
            "--jobs",
            "3",
            "--workers",
            "2",
            "--step-s",
            "2",
            "--kill-every",
            "100",
            "--timeout",
            "60",
            "--plot",
            str(png),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "| jobs completed | 3 | 3 |" in out
    assert "| ... of which finished steps | 0 | 0 |" in out
    assert png.stat().st_size > 1000


def test_timeline_and_table_draw_a_trail(fake_redis: Any) -> None:
    trail = AuditTrail("job-t", fake_redis)
    trail.append("run", "", 1, "started", start=1.0)
    trail.append("step", "a", 1, "started", start=1.0)
    trail.append("step", "a", 1, "done", start=1.0, end=1.2)
    trail.append("step", "b", 1, "started", start=1.2)
    trail.append("run", "", 1, "abandoned", start=1.5, end=1.5, error="AbandonedJobError: x")
    trail.append("run", "", 2, "started", start=1.6)
    trail.append("step", "a", 2, "skipped", start=1.6, end=1.6)
    trail.append("step", "b", 2, "started", start=1.6)
    trail.append("step", "b", 2, "done", start=1.6, end=1.9)
    events = trail.read()
    ax = timeline({"job": events}, time_scale=0.01)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["job a", "job b"]
    assert len(ax.collections) == 4  # a done, b crashed, a skipped, b done
    table = trail_table(events).splitlines()
    assert table[0].split() == ["attempt", "kind", "name", "outcome", "error"]
    assert "abandoned  AbandonedJobError: x" in table[5]
    assert len(table) == 1 + len(events)
