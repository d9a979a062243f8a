"""course.setup(): the Setup cell makes a notebook start from a known state."""

from __future__ import annotations

import random
import re
import socket
from pathlib import Path

import pytest

from stream_or_queue import client, config
from stream_or_queue.course import COURSE_PACKAGES, setup, versions
from stream_or_queue.simulator import Faults, default_simulator


def _ask() -> str:
    reply = client().messages.create(
        model=config.FAST_MODEL,
        max_tokens=60,
        messages=[{"role": "user", "content": "Say hello in one sentence."}],
    )
    return "".join(b.text for b in reply.content if b.type == "text")


def test_setup_makes_runs_repeatable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    setup(seed=3, quiet=True)
    first = (random.random(), _ask())
    _ask()  # more traffic must not leak into the next run
    setup(seed=3, quiet=True)
    assert (random.random(), _ask()) == first
    setup(seed=4, quiet=True)
    assert random.random() != first[0]


def test_setup_installs_a_fresh_simulator_with_the_given_faults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    env = setup(seed=0, quiet=True)
    _ask()
    assert len(env.simulator.ledger) == 1
    again = setup(seed=0, faults=Faults(overloaded=0.5), quiet=True)
    assert again.simulator is default_simulator() is not env.simulator
    assert again.simulator.ledger == []


def test_setup_empties_the_in_process_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    from stream_or_queue.jobs import get_redis

    setup(seed=0, quiet=True)
    get_redis().set("left-over", "1")
    setup(seed=0, quiet=True)
    assert get_redis().get("left-over") is None


def test_setup_sets_the_time_scale_and_says_what_it_runs_against(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("STREAM_OR_QUEUE_MODE", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-not-a-real-key-0123456789")
    env = setup(seed=0, time_scale=0.5)
    assert config.time_scale() == 0.5 and env.time_scale == 0.5
    out = capsys.readouterr().out
    assert out == (
        "mode: offline | queue: in-process fakeredis\n"
        "clocks: real time for what you drive | simulated time, exact, for what a cell "
        "measures | 0.5 real s per simulated s for background work\n"
    )
    assert "sk-ant" not in out and str(Path.cwd()) not in out
    assert socket.gethostname() not in out or len(socket.gethostname()) < 4
    setup(seed=0, quiet=True)
    assert config.time_scale() == config.DEFAULT_TIME_SCALE


def test_setup_reports_a_real_redis_without_its_address(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:secret@10.1.2.3:6390/0")
    env = setup(seed=0)
    out = capsys.readouterr().out
    assert env.redis == "real Redis (REDIS_URL)"
    assert "secret" not in out and "10.1.2.3" not in out


def test_versions_lists_python_and_every_course_package() -> None:
    found = versions()
    assert list(found) == ["python", *COURSE_PACKAGES]
    assert re.fullmatch(r"3\.\d+\.\d+\S*", found["python"])
    assert all(found[name] != "missing" for name in COURSE_PACKAGES)
    assert versions(("surely-not-installed-package",))["surely-not-installed-package"] == "missing"
