"""Errors in OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import InvalidRequest, ModelRunnerError

_TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


def error_body(error: ModelRunnerError, status: int) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": _TYPES_BY_STATUS.get(status, "server_error"),
            "param": error.param if isinstance(error, InvalidRequest) else None,
            "code": type(error).__name__,
        }
    }
