"""Errors in Anthropic's envelope: `{"type": "error", "error": {"type", "message"}, "request_id"}`."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import ErrorKind, ModelRunnerError

_TYPES_BY_KIND: dict[ErrorKind, str] = {
    "invalid_request": "invalid_request_error",
    "request_too_large": "request_too_large",
    "unprocessable": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "conflict": "invalid_request_error",
    "overloaded": "rate_limit_error",
    "capacity": "overloaded_error",
}


def error_type(error: ModelRunnerError) -> str:
    return _TYPES_BY_KIND.get(error.kind, "api_error")


def error_body(error: ModelRunnerError, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type(error), "message": error.message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body
