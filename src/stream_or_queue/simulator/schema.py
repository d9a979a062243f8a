"""What a Messages request may look like: pydantic models with the real API's errors.

The real API validates with pydantic and answers a 400 `invalid_request_error`
whose message is the failing field's path and pydantic's own words, e.g.
`max_tokens: Field required` or `messages.0.content.0.text.text: Field required`
(a content block's `type` is part of the path). The models here say the same
things in the same shape. Rules pydantic cannot express on one field (roles that
alternate, tool names that repeat, a `tool_choice` naming a missing tool, what
extended thinking rules out elsewhere in the request) are checked afterwards on
the parsed request, with the API's wording.

Validation is strict (no coercion): `"10"` is not a `max_tokens`, `true` is not a
number, as at the real API. Unknown fields are allowed, so SDK options the
simulator ignores (`metadata`, `top_k`, ...) do not fail a request.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
)

from .. import config
from . import thinking
from .errors import ApiError, invalid

__all__ = [
    "BatchCreateRequest",
    "CountTokensRequest",
    "MessagesRequest",
    "check_model",
    "validate_batch_envelope",
    "validate_messages_request",
]

MAX_TOKENS_LIMIT = 128_000
"""The largest `max_tokens` the API accepts."""

_INTERNAL_TAGS = frozenset({"str", "list", "other"})
"""Union branches of these models that are not part of the API's field paths."""


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class TextBlock(_Model):
    type: Literal["text"]
    text: str


class ToolUseBlock(_Model):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class ThinkingBlock(_Model):
    """A thinking block sent back in an assistant turn, with the signature it came with."""

    type: Literal["thinking"]
    thinking: str
    signature: str


class OtherBlock(_Model):
    """Any other block type (image, document, redacted thinking, ...): the simulator reads none."""

    type: str


class ToolResultBlock(_Model):
    type: Literal["tool_result"]
    tool_use_id: str
    content: Annotated[
        Annotated[str, Tag("str")] | Annotated[list[OtherBlock], Tag("list")],
        Discriminator(lambda v: "str" if isinstance(v, str) else "list"),
    ] = ""


def _block_type(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if kind in ("text", "tool_use", "tool_result", "thinking") else "other"


ContentBlock = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(_block_type),
]


class Message(_Model):
    role: Literal["user", "assistant"]
    content: Annotated[
        Annotated[str, Tag("str")] | Annotated[list[ContentBlock], Tag("list")],
        Discriminator(lambda v: "str" if isinstance(v, str) else "list"),
    ]


class SystemBlock(_Model):
    type: Literal["text"]
    text: str


class InputSchema(_Model):
    type: Literal["object"]
    properties: dict[str, dict[str, Any]] = Field(default_factory=dict)
    required: list[str] = Field(default_factory=list)


class Tool(_Model):
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")]
    input_schema: InputSchema


class ToolChoice(_Model):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None


class ThinkingEnabled(_Model):
    type: Literal["enabled"]
    budget_tokens: Annotated[int, Field(ge=thinking.MIN_BUDGET_TOKENS)]


class ThinkingDisabled(_Model):
    type: Literal["disabled"]


def _thinking_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if kind in ("enabled", "disabled") else None


Thinking = Annotated[
    Annotated[ThinkingEnabled, Tag("enabled")] | Annotated[ThinkingDisabled, Tag("disabled")],
    Discriminator(
        _thinking_type,
        custom_error_type="invalid_thinking",
        custom_error_message="must be an object with type 'enabled' or 'disabled'",
    ),
]
"""`thinking`: its path names the branch (`thinking.enabled.budget_tokens`), as at the API."""


class CountTokensRequest(_Model):
    """`POST /v1/messages/count_tokens`: a conversation, no `max_tokens`."""

    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[Message], Field(min_length=1)]
    system: (
        Annotated[
            Annotated[str, Tag("str")] | Annotated[list[SystemBlock], Tag("list")],
            Discriminator(lambda v: "str" if isinstance(v, str) else "list"),
        ]
        | None
    ) = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    temperature: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    stop_sequences: list[Annotated[str, Field(min_length=1)]] | None = None
    stream: bool | None = None


class MessagesRequest(CountTokensRequest):
    """`POST /v1/messages` (and each request's `params` in a batch)."""

    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_LIMIT)]


class BatchItem(_Model):
    custom_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    params: dict[str, Any]


class BatchCreateRequest(_Model):
    """`POST /v1/messages/batches`: only the envelope; each `params` is checked when run."""

    requests: Annotated[list[BatchItem], Field(min_length=1)]


def check_model(model: Any) -> str:
    """The canonical id of a known model; 404 for an unknown one, as the API answers."""
    if not isinstance(model, str) or not model:
        raise invalid("model: Field required")
    canonical = config.canonical_model(model)
    if canonical not in config.PRICES:
        raise ApiError("not_found_error", f"model: {model}")
    return canonical


def validate_messages_request(body: Any, *, need_max_tokens: bool = True) -> dict[str, Any]:
    """Raise ApiError(400/404) for anything the real API would refuse; return `body`."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    schema = MessagesRequest if need_max_tokens else CountTokensRequest
    try:
        request = schema.model_validate(body)
    except ValidationError as error:
        raise invalid(_first_problem(error)) from None
    check_model(request.model)
    _check_conversation(request.messages)
    _check_tools(request)
    _check_thinking(request)
    return body


def validate_batch_envelope(body: Any) -> list[dict[str, Any]]:
    """The requests of a batch whose envelope the API accepts (400 otherwise)."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    size = len(body["requests"]) if isinstance(body.get("requests"), list) else 0
    if size > config.BATCH_MAX_REQUESTS:  # before reading 100,000 items one by one
        raise invalid(
            f"requests: a batch holds at most {config.BATCH_MAX_REQUESTS:,} requests, got {size:,}"
        )
    try:
        envelope = BatchCreateRequest.model_validate(body)
    except ValidationError as error:
        raise invalid(_first_problem(error)) from None
    custom_ids = [item.custom_id for item in envelope.requests]
    repeated = _repeated(custom_ids)
    if repeated is not None:
        index = custom_ids.index(repeated, custom_ids.index(repeated) + 1)
        raise invalid(f"requests.{index}.custom_id: duplicate custom_id {repeated!r}")
    requests: list[dict[str, Any]] = body["requests"]
    return requests


def _first_problem(error: ValidationError) -> str:
    """The most specific problem, as `path.to.field: message` like the API says it."""
    details = max(error.errors(include_url=False), key=lambda e: len(e["loc"]))
    path = ".".join(str(part) for part in details["loc"] if part not in _INTERNAL_TAGS)
    return f"{path}: {details['msg']}" if path else details["msg"]


def _check_conversation(messages: list[Message]) -> None:
    if messages[0].role != "user":
        raise invalid('messages: first message must use the "user" role')
    for index, message in enumerate(messages):
        if index and message.role == messages[index - 1].role:
            raise invalid(
                f'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{message.role}" roles in a row'
            )
        if message.content == "" and index != len(messages) - 1:
            raise invalid(f"messages.{index}: text content blocks must be non-empty")
        if message.content == []:
            raise invalid(f"messages.{index}: all messages must have non-empty content")
        _check_block_roles(index, message)


_ONLY_FROM = {ToolUseBlock: "assistant", ThinkingBlock: "assistant", ToolResultBlock: "user"}
"""Blocks that only one role may send: tool calls and thinking come from the model, tool
results from the user."""


def _check_block_roles(index: int, message: Message) -> None:
    blocks = message.content if isinstance(message.content, list) else []
    for b_index, block in enumerate(blocks):
        role = _ONLY_FROM.get(type(block), message.role)
        if role != message.role:
            raise invalid(
                f"messages.{index}.content.{b_index}: "
                f"{block.type} blocks are only allowed in {role} messages"
            )


def _check_tools(request: CountTokensRequest) -> None:
    names = [tool.name for tool in request.tools or []]
    repeated = _repeated(names)
    if repeated is not None:
        raise invalid(f"tools: tool names must be unique, {repeated!r} repeats")
    choice = request.tool_choice or ToolChoice(type="auto")
    if choice.type == "tool" and choice.name not in names:
        raise invalid("tool_choice.name: must name one of the tools")
    if choice.type in ("any", "tool") and not names:
        raise invalid("tool_choice: requires tools")


def _check_thinking(request: CountTokensRequest) -> None:
    """What thinking rules out in the rest of the request (the API's wording)."""
    if not isinstance(request.thinking, ThinkingEnabled):
        return
    max_tokens = getattr(request, "max_tokens", None)  # count_tokens may carry one as an extra
    if isinstance(max_tokens, int) and request.thinking.budget_tokens >= max_tokens:
        raise invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    if request.temperature is not None and request.temperature != 1.0:
        raise invalid("`temperature` may only be set to 1 when thinking is enabled")
    if request.tool_choice is not None and request.tool_choice.type in ("any", "tool"):
        raise invalid("Thinking may not be enabled when tool_choice forces tool use.")


def _repeated(names: list[str]) -> str | None:
    """The first name that appears twice, if any."""
    return next((name for name, count in Counter(names).items() if count > 1), None)
