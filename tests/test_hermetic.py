"""`make test` gives the same result whatever the learner's shell holds (see conftest.py)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def root_conftest(pytestconfig: pytest.Config) -> ModuleType:
    """The repository root's conftest.py, as pytest loaded it (tests/ has its own)."""
    plugin = pytestconfig.pluginmanager.get_plugin(str(ROOT / "conftest.py"))
    assert isinstance(plugin, ModuleType), "the root conftest.py is loaded for every run"
    return plugin


PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header"]

HOSTILE = {
    "REDIS_URL": "redis://203.0.113.1:6379/0",  # TEST-NET-3: never a real host
    "DBOS_DATABASE_URL": "postgresql://203.0.113.1/none",
    "ANTHROPIC_API_KEY": "sk-ant-not-a-key",
    "ANTHROPIC_AUTH_TOKEN": "not-a-token",
    "ANTHROPIC_BASE_URL": "http://203.0.113.1",
    "STREAM_OR_QUEUE_MODE": "live",
    "STREAM_OR_QUEUE_TIME_SCALE": "5",
}


def test_the_learners_variables_are_removed_before_the_tests(root_conftest: ModuleType) -> None:
    assert set(HOSTILE) <= set(root_conftest.LEARNER_VARIABLES)
    assert not [name for name in root_conftest.LEARNER_VARIABLES if name in os.environ]


def test_a_connection_beyond_loopback_fails_by_name(root_conftest: ModuleType) -> None:
    with pytest.raises(root_conftest.OffLoopbackConnection, match=r"203\.0\.113\.1"):
        socket.create_connection(("203.0.113.1", 9), timeout=1)


def test_loopback_connections_still_work() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            accepted, _ = server.accept()
            accepted.close()


HOSTILE_SUBSET = (
    # the modules that read the learner's variables, and the tests that broke or hung
    # when a learner's REDIS_URL reached them
    "tests/test_hermetic.py",
    "tests/test_config.py",
    "tests/test_llm.py",
    "tests/test_quiz.py",
    "tests/test_jobs_worker.py",
    "tests/test_durable_engine.py",  # DBOS_DATABASE_URL
    "tests/test_research_durable.py",
    "tests/test_web_events.py",
)
"""What the hostile shell runs when this run's own shell was not hostile (a learner's
`make test`). CI's shell is hostile (`.ci/run`), so there every test of the run,
notebooks included, is the proof and the subset need not run a second time."""


def test_the_hostile_subset_exists() -> None:
    """A module renamed or retired must not leave the subset naming a missing file."""
    assert [path for path in HOSTILE_SUBSET if not (ROOT / path).is_file()] == []


def test_ci_runs_the_whole_suite_in_a_hostile_shell() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    exported = {name for name in HOSTILE if re.search(rf"\b{name}=", ci)}
    assert exported == set(HOSTILE)
    assert ci.index("export STREAM_OR_QUEUE_MODE") < ci.index("\nmake test")


@pytest.mark.slow
@pytest.mark.serial  # it runs wall-clock measurements too: alone, like them
def test_the_suite_passes_in_a_hostile_shell(root_conftest: ModuleType) -> None:
    """Tests in a shell that points at a dead Redis, a key and live mode still pass."""
    held = root_conftest.shell_held()
    if set(HOSTILE) <= held:
        # This run itself started in such a shell (CI): every one of its tests is the
        # proof; the variables are gone from this process and everything it starts.
        assert not [name for name in HOSTILE if name in os.environ]
        return
    env = {**os.environ, **HOSTILE}
    env.pop(
        "STREAM_OR_QUEUE_TEST_REDIS_URL", None
    )  # the tests start their own Redis if they need one
    env.pop(root_conftest.SHELL_HELD_ENV, None)
    result = subprocess.run(
        [*PYTEST, *HOSTILE_SUBSET, "-m", "not slow and not browser", "-x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\b\d{2,} passed", result.stdout), result.stdout[-500:]
