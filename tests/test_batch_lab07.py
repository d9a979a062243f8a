"""Lab 07's checks pass a right answer and fail common mistakes with a helpful message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anthropic
import pytest

from stream_or_queue import clock, config, cost
from stream_or_queue.labs import CheckFailed, lab07


def to_requests(prompts: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": cid,
            "params": {
                "model": config.FAST_MODEL,
                "max_tokens": 200,
                "messages": [{"role": "user", "content": text}],
            },
        }
        for cid, text in prompts
    ]


def submit_and_wait(
    api: anthropic.Anthropic, requests: list[dict[str, Any]], poll_every_s: float = 30.0
) -> Any:
    batch = api.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    while batch.processing_status != "ended":
        clock.sleep(poll_every_s)
        batch = api.messages.batches.retrieve(batch.id)
    return batch


def collect(api: anthropic.Anthropic, batch_id: str) -> tuple[dict[str, Any], list[str]]:
    ok: dict[str, Any] = {}
    retry: list[str] = []
    for entry in api.messages.batches.results(batch_id):
        if entry.result.type == "succeeded":
            ok[entry.custom_id] = entry.result.message
        elif entry.result.type in ("errored", "expired"):
            retry.append(entry.custom_id)
    return ok, retry


def run_all(api: anthropic.Anthropic, requests: list[dict[str, Any]]) -> dict[str, Any]:
    by_id = {r["custom_id"]: r for r in requests}
    results: dict[str, Any] = {}
    pending = list(requests)
    for _ in range(4):
        if not pending:
            break
        ok, retry = collect(api, submit_and_wait(api, pending).id)
        results.update(ok)
        pending = [by_id[c] for c in retry]
    return results


def savings(messages: Iterable[Any], model: str) -> tuple[float, float]:
    done = list(messages)
    return (
        sum(cost(m.usage, model) for m in done),
        sum(cost(m.usage, model, batch=True) for m in done),
    )


RIGHT = {
    "to_requests": to_requests,
    "submit_and_wait": submit_and_wait,
    "collect": collect,
    "run_all": run_all,
    "savings": savings,
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_answers_pass(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    getattr(lab07, f"check_{name}")(RIGHT[name])
    assert "\N{CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_untouched_lab_fails_helpfully(name: str) -> None:
    def untouched(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()

    untouched.__name__ = name
    with pytest.raises(CheckFailed, match="NotImplementedError"):
        getattr(lab07, f"check_{name}")(untouched)


def test_busy_polling_is_caught() -> None:
    def busy(
        api: anthropic.Anthropic, requests: list[dict[str, Any]], poll_every_s: float = 30.0
    ) -> Any:
        batch = api.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        while batch.processing_status != "ended":
            clock.sleep(0.5)
            batch = api.messages.batches.retrieve(batch.id)
        return batch

    with pytest.raises(CheckFailed, match=r"clock\.sleep"):
        lab07.check_submit_and_wait(busy)


def test_forgetting_expired_entries_is_caught() -> None:
    def errored_only(api: anthropic.Anthropic, batch_id: str) -> tuple[dict[str, Any], list[str]]:
        ok, retry = collect(api, batch_id)
        kinds = {e.custom_id: e.result.type for e in api.messages.batches.results(batch_id)}
        return ok, [c for c in retry if kinds[c] == "errored"]

    with pytest.raises(CheckFailed, match="expired"):
        lab07.check_collect(errored_only)


def test_resubmitting_everything_is_caught() -> None:
    def everything(api: anthropic.Anthropic, requests: list[dict[str, Any]]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for _ in range(3):
            ok, _retry = collect(api, submit_and_wait(api, requests).id)
            results.update(ok)
        return results

    with pytest.raises(CheckFailed, match="already succeeded"):
        lab07.check_run_all(everything)


def test_standard_price_for_both_is_caught() -> None:
    def no_discount(messages: Iterable[Any], model: str) -> tuple[float, float]:
        standard = sum(cost(m.usage, model) for m in messages)
        return standard, standard

    with pytest.raises(CheckFailed, match="batch=True"):
        lab07.check_savings(no_discount)
