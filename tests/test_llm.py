"""client()/async_client(): offline by default, live only when asked and keyed; cost()."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anthropic
import pytest
from simulator_support import ask

from stream_or_queue import async_client, client, config, cost, token_cost
from stream_or_queue.llm import OFFLINE_API_KEY, OFFLINE_BASE_URL
from stream_or_queue.simulator import Faults, RunningServer, Simulator, serve_in_thread

FAKE_KEY = "sk-ant-test-not-a-real-key"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the developer's shell exports, each test starts offline and local."""
    for name in (
        "STREAM_OR_QUEUE_MODE",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with serve_in_thread(Simulator(seed=12)) as running:
        yield running


# --- offline ------------------------------------------------------------------------------------


def test_offline_by_default_talks_to_the_shared_simulator(simulator: Simulator) -> None:
    assert config.mode() == "offline"
    with client() as sdk:
        assert isinstance(sdk, anthropic.Anthropic)
        assert str(sdk.base_url).rstrip("/") == OFFLINE_BASE_URL
        assert sdk.api_key == OFFLINE_API_KEY
        assert sdk.max_retries == config.SDK_MAX_RETRIES
        message = sdk.messages.create(**ask("hello"))
    assert simulator.find(message._request_id or "") is not None


@pytest.mark.anyio
async def test_async_twin_is_offline_by_default(simulator: Simulator) -> None:
    async with async_client() as sdk:
        assert isinstance(sdk, anthropic.AsyncAnthropic)
        assert str(sdk.base_url).rstrip("/") == OFFLINE_BASE_URL
        message = await sdk.messages.create(**ask("hello"))
    assert simulator.find(message._request_id or "") is not None


def test_a_given_simulator_and_faults_are_used(simulator: Simulator) -> None:
    mine = Simulator(seed=2)
    with (
        client(simulator=mine, faults=Faults(overloaded=1.0), max_retries=0) as sdk,
        pytest.raises(anthropic.OverloadedError),
    ):
        sdk.messages.create(**ask("hello"))
    assert len(mine.ledger) == 1 and simulator.ledger == []


def test_sdk_options_pass_through(simulator: Simulator) -> None:
    with client(max_retries=5, timeout=12.0, _strict_response_validation=True) as sdk:
        assert sdk.max_retries == 5 and sdk.timeout == 12.0
        assert sdk.messages.create(**ask("hello")).stop_reason == "end_turn"


def test_a_key_alone_does_not_go_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    assert config.mode() == "offline"
    with client() as sdk:
        assert str(sdk.base_url).rstrip("/") == OFFLINE_BASE_URL
        assert sdk.api_key == OFFLINE_API_KEY, "the real key never goes to the simulator"


def test_live_mode_without_a_key_stays_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_OR_QUEUE_MODE", "live")
    assert config.mode() == "offline"
    with client() as sdk:
        assert str(sdk.base_url).rstrip("/") == OFFLINE_BASE_URL


@pytest.mark.parametrize("spelling", ["live", "LIVE", " Live "])
def test_live_with_key_and_mode_targets_the_real_api(
    monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """Checked without a request: the client is built, never used (no network in tests)."""
    monkeypatch.setenv("STREAM_OR_QUEUE_MODE", spelling)
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    assert config.mode() == "live"
    with client() as sdk:
        assert str(sdk.base_url).rstrip("/") == "https://api.anthropic.com"
        assert sdk.api_key == FAKE_KEY
    sdk_async = async_client()
    assert str(sdk_async.base_url).rstrip("/") == "https://api.anthropic.com"
    asyncio.run(sdk_async.close())


# --- ANTHROPIC_BASE_URL: the HTTP simulator -------------------------------------------------------


def test_base_url_env_sends_requests_over_http(
    monkeypatch: pytest.MonkeyPatch, server: RunningServer, simulator: Simulator
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    with client() as sdk:
        assert str(sdk.base_url).rstrip("/") == server.url
        message = sdk.messages.create(**ask("hello"))
    assert server.simulator.find(message._request_id or "") is not None
    assert simulator.ledger == [], "nothing went to the in-process simulator"


@pytest.mark.anyio
async def test_async_base_url_env_and_faults_travel_as_a_header(
    monkeypatch: pytest.MonkeyPatch, server: RunningServer
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    async with async_client(faults=Faults(server_error=1.0), max_retries=0) as sdk:
        with pytest.raises(anthropic.InternalServerError):
            await sdk.messages.create(**ask("hello"))
    assert server.simulator.ledger[-1].fault == "server_error"


def test_own_headers_and_fault_header_travel_together(
    monkeypatch: pytest.MonkeyPatch, server: RunningServer
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    mine = {"x-course": "stream-or-queue"}
    with client(faults=Faults(overloaded=1.0), max_retries=0, default_headers=mine) as sdk:
        assert sdk.default_headers["x-course"] == "stream-or-queue"
        with pytest.raises(anthropic.OverloadedError):
            sdk.messages.create(**ask("hello"))


def test_an_explicit_simulator_wins_over_the_base_url(
    monkeypatch: pytest.MonkeyPatch, server: RunningServer
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    mine = Simulator()
    with client(simulator=mine) as sdk:
        sdk.messages.create(**ask("hello"))
    assert len(mine.ledger) == 1 and server.simulator.ledger == []


# --- cost -----------------------------------------------------------------------------------------


def test_cost_of_a_million_tokens_is_the_list_price() -> None:
    for model, price in config.PRICES.items():
        assert token_cost(1_000_000, 0, model) == pytest.approx(price.input_per_mtok)
        assert token_cost(0, 1_000_000, model) == pytest.approx(price.output_per_mtok)


@pytest.mark.parametrize("model", sorted(config.PRICES))
def test_batch_is_exactly_half(model: str) -> None:
    usage = {"input_tokens": 1234, "output_tokens": 567}
    assert config.BATCH_DISCOUNT == 0.5
    assert cost(usage, model, batch=True) == cost(usage, model) * 0.5
    assert token_cost(1234, 567, model, batch=True) == token_cost(1234, 567, model) / 2


def test_cost_reads_an_sdk_usage_object(simulator: Simulator) -> None:
    with client() as sdk:
        message = sdk.messages.create(**ask("hello"))
    usage = message.usage
    price = config.PRICES[config.FAST_MODEL]
    expected = (
        usage.input_tokens * price.input_per_mtok + usage.output_tokens * price.output_per_mtok
    ) / 1e6
    assert cost(usage, message.model) == pytest.approx(expected)
    assert cost(usage, message.model) > 0


def test_cost_bills_cache_reads_and_writes_at_their_own_rates() -> None:
    def dollars(**usage: int | None) -> float:
        return cost({"input_tokens": 0, "output_tokens": 0, **usage}, config.FAST_MODEL)

    plain = dollars(input_tokens=1_000)
    assert dollars(cache_read_input_tokens=1_000) == pytest.approx(0.1 * plain)
    assert dollars(cache_creation_input_tokens=1_000) == pytest.approx(1.25 * plain)
    assert dollars(input_tokens=500, cache_read_input_tokens=500) < plain
    assert dollars(input_tokens=1_000, cache_creation_input_tokens=None) == plain
    assert cost({}, config.FAST_MODEL) == 0.0


def test_dated_model_ids_cost_the_same_as_their_alias() -> None:
    dated, alias = next(iter(config.MODEL_ALIASES.items()))
    assert token_cost(10, 10, dated) == token_cost(10, 10, alias)


def test_unknown_model_has_no_price() -> None:
    with pytest.raises(ValueError, match="no price known"):
        cost({"input_tokens": 1}, "claude-imaginary-9")
    with pytest.raises(ValueError):
        token_cost(1, 1, "gpt-nothing")


def test_the_large_model_costs_more_than_the_fast_one() -> None:
    assert token_cost(1000, 1000, config.LARGE_MODEL) > token_cost(1000, 1000, config.FAST_MODEL)
