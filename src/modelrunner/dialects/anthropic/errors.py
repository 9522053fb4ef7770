"""Errors in Anthropic's envelope: `{"type": "error", "error": {"type", "message"}, "request_id"}`."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import ModelRunnerError

OVERLOADED_STATUS = 529

_TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    OVERLOADED_STATUS: "overloaded_error",
}


def anthropic_status(status: int) -> int:
    """Anthropic says 529 where a server is out of capacity (our 503: no memory for the model)."""
    return OVERLOADED_STATUS if status == 503 else status


def error_body(error: ModelRunnerError, status: int, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": _TYPES_BY_STATUS.get(status, "api_error"), "message": error.message},
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body
