"""Bad input gets the real API's status code and error body, never a 500.

Every malformed request is sent twice: in-process and over loopback HTTP, and
the server must answer a good request right after each bad one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from simulator_support import (
    HEADERS,
    KEY,
    MODEL,
    ask,
    ask_params,
    error_json,
    raw_client,
    sync_sdk,
    user,
)

from stream_or_queue.simulator import RunningServer, Simulator, serve_in_thread

GOOD: dict[str, Any] = ask("hello")
TOOL = {"name": "search", "input_schema": {"type": "object", "properties": {}}}


def _with(**changes: Any) -> dict[str, Any]:
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()

# (id, body: bytes or JSON-able, expected status, expected error type)
CASES: list[tuple[str, Any, int, str]] = [
    ("invalid-json", b"{not json", 400, "invalid_request_error"),
    ("empty-body", b"", 400, "invalid_request_error"),
    ("not-utf8", b"\xff\xfe\x00", 400, "invalid_request_error"),
    ("deep-nesting", b"[" * 50_000 + b"]" * 50_000, 400, "invalid_request_error"),
    ("json-array", [1, 2], 400, "invalid_request_error"),
    ("json-null", None, 400, "invalid_request_error"),
    ("json-string", "hello", 400, "invalid_request_error"),
    ("no-model", _with(model=_DROP), 400, "invalid_request_error"),
    ("model-not-string", _with(model=123), 400, "invalid_request_error"),
    ("unknown-model", _with(model="claude-imaginary-9"), 404, "not_found_error"),
    ("no-max-tokens", _with(max_tokens=_DROP), 400, "invalid_request_error"),
    ("max-tokens-zero", _with(max_tokens=0), 400, "invalid_request_error"),
    ("max-tokens-string", _with(max_tokens="10"), 400, "invalid_request_error"),
    ("max-tokens-bool", _with(max_tokens=True), 400, "invalid_request_error"),
    ("max-tokens-huge", _with(max_tokens=10**9), 400, "invalid_request_error"),
    ("no-messages", _with(messages=_DROP), 400, "invalid_request_error"),
    ("empty-messages", _with(messages=[]), 400, "invalid_request_error"),
    ("messages-string", _with(messages="hi"), 400, "invalid_request_error"),
    ("message-not-object", _with(messages=["hi"]), 400, "invalid_request_error"),
    (
        "role-system",
        _with(messages=[{"role": "system", "content": "x"}]),
        400,
        "invalid_request_error",
    ),
    (
        "first-assistant",
        _with(messages=[{"role": "assistant", "content": "x"}]),
        400,
        "invalid_request_error",
    ),
    ("two-users", _with(messages=user("a") + user("b")), 400, "invalid_request_error"),
    (
        "content-null",
        _with(messages=[{"role": "user", "content": None}]),
        400,
        "invalid_request_error",
    ),
    (
        "content-empty-list",
        _with(messages=[{"role": "user", "content": []}]),
        400,
        "invalid_request_error",
    ),
    (
        "content-list-of-strings",
        _with(messages=[{"role": "user", "content": ["x"]}]),
        400,
        "invalid_request_error",
    ),
    (
        "block-without-type",
        _with(messages=[{"role": "user", "content": [{"text": "x"}]}]),
        400,
        "invalid_request_error",
    ),
    (
        "text-block-without-text",
        _with(messages=[{"role": "user", "content": [{"type": "text"}]}]),
        400,
        "invalid_request_error",
    ),
    (
        "tool-use-from-user",
        _with(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}],
                }
            ]
        ),
        400,
        "invalid_request_error",
    ),
    (
        "tool-result-bad-content",
        _with(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t", "content": 5}],
                }
            ]
        ),
        400,
        "invalid_request_error",
    ),
    (
        "tool-use-input-not-object",
        _with(
            messages=[
                *user("q"),
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "n", "input": "x"}],
                },
                *user("r"),
            ]
        ),
        400,
        "invalid_request_error",
    ),
    ("temperature-too-high", _with(temperature=2), 400, "invalid_request_error"),
    ("temperature-string", _with(temperature="hot"), 400, "invalid_request_error"),
    ("stop-sequences-string", _with(stop_sequences="x"), 400, "invalid_request_error"),
    ("stop-sequences-empty-string", _with(stop_sequences=[""]), 400, "invalid_request_error"),
    ("system-number", _with(system=5), 400, "invalid_request_error"),
    ("system-image-block", _with(system=[{"type": "image"}]), 400, "invalid_request_error"),
    ("stream-string", _with(stream="yes"), 400, "invalid_request_error"),
    ("tools-string", _with(tools="search"), 400, "invalid_request_error"),
    ("tool-bad-name", _with(tools=[{**TOOL, "name": "bad name!"}]), 400, "invalid_request_error"),
    ("tool-no-schema", _with(tools=[{"name": "search"}]), 400, "invalid_request_error"),
    (
        "tool-schema-properties-list",
        _with(tools=[{"name": "s", "input_schema": {"type": "object", "properties": ["q"]}}]),
        400,
        "invalid_request_error",
    ),
    ("tool-names-repeat", _with(tools=[TOOL, TOOL]), 400, "invalid_request_error"),
    (
        "tool-choice-unknown-tool",
        _with(tools=[TOOL], tool_choice={"type": "tool", "name": "x"}),
        400,
        "invalid_request_error",
    ),
    ("tool-choice-string", _with(tools=[TOOL], tool_choice="auto"), 400, "invalid_request_error"),
    (
        "tool-choice-any-without-tools",
        _with(tool_choice={"type": "any"}),
        400,
        "invalid_request_error",
    ),
]


FIELD_NAMED: dict[str, str] = {
    # case id -> the field path its message starts with, as the real API writes it
    "no-model": "model: Field required",
    "model-not-string": "model: ",
    "unknown-model": "model: claude-imaginary-9",
    "no-max-tokens": "max_tokens: Field required",
    "max-tokens-zero": "max_tokens: ",
    "max-tokens-string": "max_tokens: ",
    "max-tokens-bool": "max_tokens: ",
    "max-tokens-huge": "max_tokens: ",
    "no-messages": "messages: Field required",
    "empty-messages": "messages: ",
    "messages-string": "messages: ",
    "message-not-object": "messages.0: ",
    "role-system": "messages.0.role: ",
    "first-assistant": "messages: ",
    "two-users": "messages: roles must alternate",
    "content-null": "messages.0.content: ",
    "content-empty-list": "messages.0: ",
    "content-list-of-strings": "messages.0.content.0: ",
    "block-without-type": "messages.0.content.0.type: Field required",
    "text-block-without-text": "messages.0.content.0.text.text: Field required",
    "tool-use-from-user": "messages.0.content.0: ",
    "tool-result-bad-content": "messages.0.content.0.tool_result.content: ",
    "tool-use-input-not-object": "messages.1.content.0.tool_use.input: ",
    "temperature-too-high": "temperature: ",
    "temperature-string": "temperature: ",
    "stop-sequences-string": "stop_sequences: ",
    "stop-sequences-empty-string": "stop_sequences.0: ",
    "system-number": "system: ",
    "system-image-block": "system.0.type: ",
    "stream-string": "stream: ",
    "tools-string": "tools: ",
    "tool-bad-name": "tools.0.name: ",
    "tool-no-schema": "tools.0.input_schema: Field required",
    "tool-schema-properties-list": "tools.0.input_schema.properties: ",
    "tool-names-repeat": "tools: ",
    "tool-choice-unknown-tool": "tool_choice.name: ",
    "tool-choice-string": "tool_choice: ",
    "tool-choice-any-without-tools": "tool_choice: ",
}


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with serve_in_thread(Simulator(seed=9)) as running:
        yield running


def _poster(way: str, server: RunningServer) -> Iterator[Callable[..., httpx2.Response]]:
    if way == "inproc":
        with raw_client(Simulator(seed=9)) as http:
            yield http.post
    else:
        with httpx2.Client(base_url=server.url) as http:
            yield http.post


@pytest.fixture(params=["inproc", "http"])
def post(
    request: pytest.FixtureRequest, server: RunningServer
) -> Iterator[Callable[..., httpx2.Response]]:
    yield from _poster(request.param, server)


def _send(
    post: Callable[..., httpx2.Response],
    body: Any,
    path: str = "/v1/messages",
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return post(path, content=content, headers=headers or HEADERS)


def _assert_error(response: httpx2.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["request-id"]


@pytest.mark.parametrize(("case", "body", "status", "kind"), CASES, ids=[c[0] for c in CASES])
def test_bad_message_requests(
    post: Callable[..., httpx2.Response], case: str, body: Any, status: int, kind: str
) -> None:
    _assert_error(_send(post, body), status, kind)
    if isinstance(body, dict) and "max-tokens" not in case:  # count_tokens takes no max_tokens
        counted = _send(
            post, {k: v for k, v in body.items() if k != "max_tokens"}, "/v1/messages/count_tokens"
        )
        assert counted.status_code in (400, 404), counted.text
    # the server keeps serving
    assert _send(post, GOOD).status_code == 200


@pytest.mark.parametrize("case", sorted(FIELD_NAMED))
def test_error_messages_name_the_field(case: str) -> None:
    """Messages are `path.to.field: problem`, like the real API's (validated by pydantic)."""
    body = next(c[1] for c in CASES if c[0] == case)
    with raw_client(Simulator(seed=9)) as http:
        message = _send(http.post, body).json()["error"]["message"]
    assert message.startswith(FIELD_NAMED[case]), message
    assert "Value error" not in message and "pydantic" not in message, message


def test_every_malformed_json_body_case_names_a_field() -> None:
    """A new CASES row with a JSON body needs its expected field above, or this fails."""
    dict_cases = {c[0] for c in CASES if isinstance(c[1], dict)}
    assert dict_cases == set(FIELD_NAMED)


def test_temperature_null_means_the_default(post: Callable[..., httpx2.Response]) -> None:
    assert _send(post, _with(temperature=None)).status_code == 200


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("no-requests", {}),
        ("requests-string", {"requests": "x"}),
        ("item-not-object", {"requests": ["x"]}),
        ("no-params", {"requests": [{"custom_id": "a"}]}),
        ("params-list", {"requests": [{"custom_id": "a", "params": []}]}),
        ("custom-id-number", {"requests": [{"custom_id": 7, "params": GOOD}]}),
        ("custom-id-too-long", {"requests": [{"custom_id": "a" * 65, "params": GOOD}]}),
        ("custom-id-duplicate", {"requests": [{"custom_id": "a", "params": GOOD}] * 2}),
    ],
)
def test_bad_batch_requests(post: Callable[..., httpx2.Response], case: str, body: Any) -> None:
    _assert_error(_send(post, body, "/v1/messages/batches"), 400, "invalid_request_error")
    assert (
        _send(
            post, {"requests": [{"custom_id": "ok", "params": GOOD}]}, "/v1/messages/batches"
        ).status_code
        == 200
    )


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=1001"])
def test_bad_batch_list_queries(server: RunningServer, query: str) -> None:
    with httpx2.Client(base_url=server.url) as http:
        _assert_error(
            http.get(f"/v1/messages/batches?{query}", headers=HEADERS), 400, "invalid_request_error"
        )


def test_unknown_routes_are_404(
    post: Callable[..., httpx2.Response], server: RunningServer
) -> None:
    _assert_error(_send(post, GOOD, "/v1/complete"), 404, "not_found_error")
    _assert_error(
        _send(post, {}, "/v1/messages/batches/msgbatch_x/explode"), 404, "not_found_error"
    )
    with httpx2.Client(base_url=server.url) as http:
        _assert_error(http.get("/v1/messages", headers=HEADERS), 404, "not_found_error")


def test_missing_api_key_is_401(post: Callable[..., httpx2.Response]) -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "x-api-key"}
    _assert_error(_send(post, GOOD, headers=headers), 401, "authentication_error")


def test_seeded_mutation_fuzz_never_gets_a_5xx() -> None:
    """Hypothesis is not a dependency: a seeded mutator explores malformed bodies instead."""
    rng = random.Random(1234)
    junk: list[Any] = [
        None,
        True,
        0,
        -1,
        1.5,
        "",
        "x",
        [],
        {},
        [None],
        {"type": None},
        [{"role": "user"}],
        {"role": "user", "content": [{}]},
    ]
    valid = _with(
        system="s",
        stop_sequences=["z"],
        tools=[TOOL],
        tool_choice={"type": "auto"},
        temperature=0.5,
        stream=False,
    )
    sim = Simulator(seed=1)
    with raw_client(sim) as http:
        for _ in range(300):
            body = json.loads(json.dumps(valid))
            for _ in range(rng.randint(1, 3)):
                target: Any = body
                path: list[str | int] = rng.choice(
                    [
                        ["model"],
                        ["max_tokens"],
                        ["messages"],
                        ["messages", 0],
                        ["messages", 0, "content"],
                        ["system"],
                        ["tools"],
                        ["tools", 0, "input_schema"],
                        ["tool_choice"],
                        ["stop_sequences"],
                        ["temperature"],
                        ["stream"],
                    ]
                )
                for key in path[:-1]:
                    in_dict = isinstance(target, dict) and key in target
                    in_list = (
                        isinstance(target, list) and isinstance(key, int) and key < len(target)
                    )
                    if in_dict or in_list:
                        target = target[key]
                if isinstance(target, dict):
                    if rng.random() < 0.3:
                        target.pop(path[-1], None)
                    else:
                        target[path[-1]] = rng.choice(junk)
                elif isinstance(target, list) and target:
                    target[0] = rng.choice(junk)
            response = _send(http.post, body)
            assert response.status_code < 500, (body, response.text)
    assert all(r.status < 500 for r in sim.ledger)


# --- through the SDK ------------------------------------------------------------------------------


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_sdk_raises_the_matching_errors(way: str) -> None:
    sim = Simulator(seed=9)
    with sync_sdk(sim, way) as client:
        with pytest.raises(anthropic.NotFoundError) as unknown:
            client.messages.create(**{**GOOD, "model": "claude-imaginary-9"})
        assert error_json(unknown.value)["error"]["type"] == "not_found_error"
        with pytest.raises(anthropic.BadRequestError):
            # the SDK insists on max_tokens; extra_body sends it as null, which is missing
            client.messages.create(**GOOD, extra_body={"max_tokens": None})
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(**{**GOOD, "messages": []})
        with pytest.raises(anthropic.BadRequestError) as alternating:
            client.messages.create(**{**GOOD, "messages": user("a") + user("b")})
        assert "alternate" in alternating.value.message
        with pytest.raises(anthropic.BadRequestError):
            client.messages.count_tokens(model=MODEL, messages=[])
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.create(
                requests=[{"custom_id": "no spaces", "params": ask_params("hello")}]
            )
        assert client.messages.create(**GOOD).stop_reason == "end_turn"
    assert [r.status for r in sim.ledger] == [404, 400, 400, 400, 400, 400, 200]


@pytest.mark.parametrize("way", ["inproc", "http"])
def test_oversized_body_is_413(way: str) -> None:
    sim = Simulator(seed=9, max_body_bytes=2_000)
    with sync_sdk(sim, way) as client:
        with pytest.raises(anthropic.APIStatusError) as too_big:
            client.messages.create(**ask("x" * 5_000))
        assert too_big.value.status_code == 413
        assert error_json(too_big.value)["error"]["type"] == "request_too_large"
        assert client.messages.create(**ask("small")).stop_reason == "end_turn"


def test_oversized_upload_is_refused_before_it_is_read() -> None:
    """Over HTTP, a declared Content-Length above the limit is refused without reading it."""
    sim = Simulator(max_body_bytes=1_000, max_batch_body_bytes=4_000)
    with serve_in_thread(sim) as running, httpx2.Client(base_url=running.url) as http:
        response = http.post(
            "/v1/messages/batches", content=b"x" * 10_000, headers={**HEADERS, "x-api-key": KEY}
        )
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "request_too_large"
        assert http.post("/v1/messages", json=GOOD, headers=HEADERS).status_code == 200
