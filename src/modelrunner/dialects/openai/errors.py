"""Errors in OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import ErrorKind, InvalidRequest, ModelRunnerError

_TYPES_BY_KIND: dict[ErrorKind, str] = {
    "invalid_request": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "unprocessable": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "conflict": "conflict_error",
    "overloaded": "rate_limit_error",
    "capacity": "service_unavailable_error",
}


def error_body(error: ModelRunnerError, request_id: str | None = None) -> dict[str, Any]:
    """`request_id` is accepted for a uniform signature; OpenAI carries it in a header only."""
    return {
        "error": {
            "message": error.message,
            "type": _TYPES_BY_KIND.get(error.kind, "server_error"),
            "param": error.param if isinstance(error, InvalidRequest) else None,
            "code": type(error).__name__,
        }
    }
