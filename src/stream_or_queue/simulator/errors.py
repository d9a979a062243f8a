"""API errors with the status codes and bodies of the real Messages API."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ERROR_STATUS", "ApiError", "dumps", "error_body", "invalid", "read_json"]

ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class ApiError(Exception):
    """An error the simulator answers with instead of a result.

    Raised anywhere inside request handling; the engine turns it into the real
    API's JSON body and status code, so bad input never becomes a 500.
    """

    def __init__(
        self, error_type: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        if error_type not in ERROR_STATUS:
            raise ValueError(f"unknown error type {error_type!r}")
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.error_type]

    def body(self, request_id: str) -> dict[str, Any]:
        return error_body(self.error_type, self.message, request_id)


def error_body(error_type: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def invalid(message: str) -> ApiError:
    return ApiError("invalid_request_error", message)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def read_json(body: bytes, limit: int) -> Any:
    """A request's JSON body; 413 above `limit` bytes, 400 if it is not JSON."""
    if len(body) > limit:
        raise ApiError("request_too_large", "Request exceeds the maximum allowed size")
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise invalid(f"request body is not valid JSON: {exc}") from None
