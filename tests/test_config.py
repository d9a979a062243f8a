"""config: mode, time scale, and the course-wide numbers every module reads."""

from __future__ import annotations

import ast
import datetime as dt
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stream_or_queue import config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "STREAM_OR_QUEUE_MODE",
        "ANTHROPIC_API_KEY",
        "STREAM_OR_QUEUE_TIME_SCALE",
        "REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)


# --- time scale -----------------------------------------------------------------------------------


def test_default_time_scale() -> None:
    assert config.time_scale() == config.DEFAULT_TIME_SCALE == 0.01


def test_environment_sets_the_time_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_OR_QUEUE_TIME_SCALE", "0.5")
    assert config.time_scale() == 0.5
    config.set_time_scale(0.2)  # an explicit setting wins over the environment
    assert config.time_scale() == 0.2
    config.set_time_scale(None)
    assert config.time_scale() == 0.5


@pytest.mark.parametrize("raw", ["fast", "", "1e400x", "nan", "-1", "11", "inf"])
def test_bad_environment_time_scale_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("STREAM_OR_QUEUE_TIME_SCALE", raw)
    with pytest.raises(ValueError, match=r"STREAM_OR_QUEUE_TIME_SCALE|time scale"):
        config.time_scale()


@pytest.mark.parametrize("value", [-0.01, 10.5, math.nan, math.inf])
def test_set_time_scale_refuses_out_of_range(value: float) -> None:
    with pytest.raises(ValueError):
        config.set_time_scale(value)
    assert config.time_scale() == config.DEFAULT_TIME_SCALE, "a refused value changes nothing"


@pytest.mark.parametrize("value", [0.0, 0.001, 1.0, 10.0])
def test_set_time_scale_accepts_the_range_inclusive(value: float) -> None:
    config.set_time_scale(value)
    assert config.time_scale() == value


def test_time_scale_set_to_restores_even_after_an_error() -> None:
    config.set_time_scale(0.3)
    with pytest.raises(RuntimeError), config.time_scale_set_to(1.0):
        assert config.time_scale() == 1.0
        raise RuntimeError("boom")
    assert config.time_scale() == 0.3
    with config.time_scale_set_to(0.0), config.time_scale_set_to(2.0):
        assert config.time_scale() == 2.0
    assert config.time_scale() == 0.3


def test_time_scale_set_to_refuses_before_changing_anything() -> None:
    with pytest.raises(ValueError), config.time_scale_set_to(-1.0):
        pass  # pragma: no cover
    assert config.time_scale() == config.DEFAULT_TIME_SCALE


# --- mode -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "key", "expected"),
    [
        (None, None, "offline"),
        ("live", None, "offline"),
        (None, "sk-test", "offline"),
        ("offline", "sk-test", "offline"),
        ("live", "", "offline"),
        ("live", "sk-test", "live"),
        ("  LIVE ", "sk-test", "live"),
        ("lively", "sk-test", "offline"),
    ],
)
def test_live_needs_both_the_mode_and_a_key(
    monkeypatch: pytest.MonkeyPatch, mode: str | None, key: str | None, expected: str
) -> None:
    if mode is not None:
        monkeypatch.setenv("STREAM_OR_QUEUE_MODE", mode)
    if key is not None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    assert config.mode() == expected


def test_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.redis_url() is None
    monkeypatch.setenv("REDIS_URL", "")
    assert config.redis_url() is None
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")
    assert config.redis_url() == "redis://127.0.0.1:6390/0"


# --- the numbers ----------------------------------------------------------------------------------


def test_every_model_has_a_dated_price_and_a_timing_profile() -> None:
    for model in config.PRICES:
        price = config.PRICES[model]
        assert 0 < price.input_per_mtok < price.output_per_mtok
        dt.date.fromisoformat(price.published)
        timing = config.TIMING[model]
        assert 0 < timing.ttft_min_s <= timing.ttft_max_s
        assert timing.tokens_per_s > 0 and 0 <= timing.speed_jitter < 1
    assert set(config.TIMING) == set(config.PRICES)
    assert {config.FAST_MODEL, config.LARGE_MODEL} <= set(config.PRICES)


def test_the_fast_model_is_faster_and_cheaper() -> None:
    fast, large = config.FAST_MODEL, config.LARGE_MODEL
    assert config.TIMING[fast].tokens_per_s > config.TIMING[large].tokens_per_s
    assert config.TIMING[fast].ttft_max_s < config.TIMING[large].ttft_max_s
    assert config.PRICES[fast].output_per_mtok < config.PRICES[large].output_per_mtok


def test_published_speeds_of_the_large_model() -> None:
    """COURSE.md: Sonnet-class ~60-95 output tokens/s after a TTFT of ~0.8-1.8 s."""
    large = config.TIMING[config.LARGE_MODEL]
    assert 60 <= large.tokens_per_s <= 95
    assert large.ttft_min_s >= 0.8 and large.ttft_max_s <= 1.8


def test_aliases_point_at_priced_models() -> None:
    for dated, alias in config.MODEL_ALIASES.items():
        assert alias in config.PRICES and config.canonical_model(dated) == alias
    assert config.canonical_model(config.FAST_MODEL) == config.FAST_MODEL
    assert config.canonical_model("unknown-model") == "unknown-model"


def test_batch_figures() -> None:
    assert config.BATCH_DISCOUNT == 0.5
    assert config.BATCH_MAX_REQUESTS == 100_000
    assert config.BATCH_EXPIRY_S == 24 * 3600
    assert config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S * 100_000 < (
        config.BATCH_EXPIRY_S
    ), "a full batch finishes before it would expire"


def test_edge_timeouts() -> None:
    assert config.EDGE_TIMEOUTS_S["AWS ALB (idle)"] == 60.0
    assert config.EDGE_TIMEOUTS_S["Cloudflare proxy (read)"] == 100.0
    assert config.EDGE_TIMEOUTS_S["AWS API Gateway (REST)"] == 29.0
    assert config.DEFAULT_EDGE_TIMEOUT_S in config.EDGE_TIMEOUTS_S.values()
    assert config.SDK_MAX_RETRIES == 2


# --- the environment ------------------------------------------------------------------------------


def test_every_renamed_variable_has_the_one_prefix_and_its_old_soq_name() -> None:
    for new, old in config.RENAMED_ENV.items():
        assert new.startswith(config.ENV_PREFIX)
        assert old == "SOQ_" + new.removeprefix(config.ENV_PREFIX)


def test_env_reads_the_new_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOQ_SMTP_URL", raising=False)
    monkeypatch.delenv("STREAM_OR_QUEUE_SMTP_URL", raising=False)
    assert config.env("STREAM_OR_QUEUE_SMTP_URL") is None
    monkeypatch.setenv("STREAM_OR_QUEUE_SMTP_URL", "smtp://127.0.0.1:2525")
    assert config.env("STREAM_OR_QUEUE_SMTP_URL") == "smtp://127.0.0.1:2525"


def test_an_old_name_still_works_and_warns_once_naming_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config, "_warned_old_names", set())
    monkeypatch.delenv("STREAM_OR_QUEUE_RESEARCH_VERSION", raising=False)
    monkeypatch.setenv("SOQ_RESEARCH_VERSION", "v3")
    with pytest.warns(config.RenamedVariableWarning) as record:
        assert config.env("STREAM_OR_QUEUE_RESEARCH_VERSION") == "v3"
        assert config.env("STREAM_OR_QUEUE_RESEARCH_VERSION") == "v3"
    assert len(record) == 1, "the message is printed once per name"
    message = str(record[0].message)
    assert "SOQ_RESEARCH_VERSION" in message and "STREAM_OR_QUEUE_RESEARCH_VERSION" in message
    assert "v3" not in message, "a value (a URL may hold a password) is never echoed"
    assert record[0].filename == __file__, "the warning points at the code that read it"
    assert issubclass(config.RenamedVariableWarning, FutureWarning), "shown to users by default"


def test_an_old_name_reaches_the_module_that_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_or_queue.research.versions import default_version

    monkeypatch.setattr(config, "_warned_old_names", set())
    monkeypatch.delenv("STREAM_OR_QUEUE_RESEARCH_VERSION", raising=False)
    monkeypatch.setenv("SOQ_RESEARCH_VERSION", "v3")
    with pytest.warns(config.RenamedVariableWarning, match="STREAM_OR_QUEUE_RESEARCH_VERSION"):
        assert default_version() == "v3"


def test_the_new_name_wins_over_the_old_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_warned_old_names", set())
    monkeypatch.setenv("SOQ_SMTP_URL", "smtp://127.0.0.1:1")
    monkeypatch.setenv("STREAM_OR_QUEUE_SMTP_URL", "smtp://127.0.0.1:2")
    assert config.env("STREAM_OR_QUEUE_SMTP_URL") == "smtp://127.0.0.1:2"  # warnings are errors


def test_a_name_that_was_never_renamed_has_no_old_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOQ_MODE", "live")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    assert config.env("STREAM_OR_QUEUE_MODE") is None
    assert config.mode() == "offline"


def test_an_old_name_in_a_fresh_process_prints_the_message(tmp_path: Path) -> None:
    """What a learner sees: Python shows the message once on stderr, and the value is used."""
    code = (
        "from stream_or_queue import config\n"
        "for _ in range(3):\n"
        "    print(config.env('STREAM_OR_QUEUE_SMTP_URL'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("SMTP_URL")}
    env["SOQ_SMTP_URL"] = "smtp://127.0.0.1:2525"
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["smtp://127.0.0.1:2525"] * 3
    assert result.stderr.count("SOQ_SMTP_URL is now STREAM_OR_QUEUE_SMTP_URL") == 1


ROOT = Path(__file__).resolve().parent.parent


def _environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read a variable straight from the environment: os.getenv(...),
    os.environ.get(...), os.environ[...] (a load)."""
    calls = {"os.getenv", "os.environ.get"}
    return [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Call) and ast.unparse(node.func) in calls)
        or (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) == "os.environ"
        )
    ]


def test_the_library_reads_its_environment_only_through_env() -> None:
    """One reader, so that a renamed variable's old name is honoured everywhere."""
    package = ROOT / "src" / "stream_or_queue"
    found = {
        f"{path.relative_to(package)}:{line}"
        for path in package.rglob("*.py")
        if path.name != "config.py"
        for line in _environment_reads(ast.parse(path.read_text(), str(path)))
    }
    assert not found, f"read through config.env() instead: {sorted(found)}"


def test_no_variable_is_read_or_set_under_the_old_prefix() -> None:
    """SOQ_* survives only in the table of old names (and where the suite removes them)."""
    allowed = {"src/stream_or_queue/config.py", "tests/test_config.py", "conftest.py"}
    places = [ROOT / ".ci" / "run", ROOT / "Makefile", ROOT / "pyproject.toml", ROOT / "README.md"]
    for folder in ("src", "tests", "scripts", "docs", "notebooks", "solutions", "labs"):
        places += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".ipynb")]
    found = [
        str(path.relative_to(ROOT))
        for path in places
        if str(path.relative_to(ROOT)) not in allowed
        and re.search(r"\bSOQ_[A-Z]", path.read_text(encoding="utf-8"))
    ]
    assert not found, f"old SOQ_ names in {found}: use STREAM_OR_QUEUE_*"


def test_every_name_in_config_has_a_user() -> None:
    """A setting nothing reads is a number that can drift from the truth unnoticed.
    (test_config.py does not count: a test of a number is not a use of it.)"""
    own = (ROOT / "src" / "stream_or_queue" / "config.py").read_text()
    tree = ast.parse(own)
    defined = [
        target.id
        for node in tree.body
        for target in (
            node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", node)]
        )
        if isinstance(target, ast.Name)
    ] + [node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    sources = [ROOT / "conftest.py"]
    for folder in ("src", "tests", "scripts", "notebooks", "solutions"):
        sources += sorted((ROOT / folder).rglob("*.py"))
    text = "\n".join(
        path.read_text(encoding="utf-8")
        for path in sources
        if path.name not in ("config.py", "test_config.py")
    )
    unused = [
        name
        for name in defined
        if not name.startswith("_")
        and not re.search(rf"\b{name}\b", text)
        and len(re.findall(rf"\b{name}\b", own)) < 2  # config's own functions use it
    ]
    assert not unused, f"config names nothing uses: {unused}"


def test_the_suite_reads_an_old_test_variable_under_its_new_name(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shell (or a CI definition elsewhere) that still sets SOQ_PG_BIN: the root
    conftest.py moves it to STREAM_OR_QUEUE_PG_BIN before any test reads it."""
    root_conftest = pytestconfig.pluginmanager.get_plugin(str(ROOT / "conftest.py"))
    assert root_conftest is not None, "the root conftest.py is loaded for every run"
    monkeypatch.delenv("STREAM_OR_QUEUE_PG_BIN", raising=False)
    monkeypatch.setenv("SOQ_PG_BIN", "/opt/pg/bin")
    monkeypatch.setenv("SOQ_TEST_POSTGRES_URL", "postgresql://127.0.0.1:1/old")
    monkeypatch.setenv("STREAM_OR_QUEUE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:2/new")
    moved = root_conftest.adopt_renamed_variables()
    assert "SOQ_PG_BIN -> STREAM_OR_QUEUE_PG_BIN" in moved
    assert "SOQ_PG_BIN" not in os.environ and "SOQ_TEST_POSTGRES_URL" not in os.environ
    assert config.env("STREAM_OR_QUEUE_PG_BIN") == "/opt/pg/bin"  # no warning: the new name
    assert config.env("STREAM_OR_QUEUE_TEST_POSTGRES_URL") == "postgresql://127.0.0.1:2/new"
