"""Errors -> HTTP: one status per error class, and the envelope of the API the path belongs to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

import orjson

from modelrunner.core import errors
from modelrunner.dialects.anthropic.errors import anthropic_status
from modelrunner.dialects.anthropic.errors import error_body as anthropic_error_body
from modelrunner.dialects.ollama.errors import error_body as ollama_error_body
from modelrunner.dialects.openai.errors import error_body as openai_error_body

logger = logging.getLogger(__name__)

_STATUS_BY_ERROR: tuple[tuple[type[errors.ModelRunnerError], int], ...] = (
    (errors.RequestTooLarge, 413),
    (errors.UnsupportedArtifact, 422),
    (errors.InvalidRequest, 400),
    (errors.AuthenticationFailed, 401),
    (errors.PermissionDenied, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.InsufficientMemory, 503),
    (errors.Overloaded, 429),
    (errors.RegistryUnavailable, 502),
    (errors.InsufficientStorage, 507),
)

EnvelopeBuilder = Callable[[errors.ModelRunnerError, int], dict[str, Any]]


def status_for(error: errors.ModelRunnerError) -> int:
    for error_type, status in _STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 500


def is_anthropic_path(path: str) -> bool:
    return (path.startswith("/anthropic/") or path.endswith(("/messages", "/messages/count_tokens"))
            or "/messages/batches" in path)


def envelope_for(path: str) -> EnvelopeBuilder:
    """Errors answer in the envelope of the API whose path was called."""
    if is_anthropic_path(path):
        return anthropic_error_body
    if path.startswith("/api/"):
        return ollama_error_body
    return openai_error_body


def error_headers(error: errors.ModelRunnerError, status: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    if error.retry_after_s is not None:
        headers["retry-after"] = str(max(1, round(error.retry_after_s)))
    if status >= 500 and not error.retryable:
        headers["x-should-retry"] = "false"
    return headers


def error_response(path: str, error: errors.ModelRunnerError, request_id: str | None = None) -> Response:
    status = status_for(error)
    if is_anthropic_path(path):
        status = anthropic_status(status)
    body = envelope_for(path)(error, status)
    if request_id is not None and is_anthropic_path(path):
        body["request_id"] = request_id
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=error_headers(error, status))


async def handle_model_runner_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ModelRunnerError)
    return error_response(request.url.path, exc, getattr(request.state, "request_id", None))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: errors.ModelRunnerError
    if exc.status_code == 404:
        error = errors.NotFound(f"no route {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = errors.InvalidRequest(f"method {request.method} is not allowed on {request.url.path}")
    else:
        error = errors.InvalidRequest(str(exc.detail))
    response = error_response(request.url.path, error, getattr(request.state, "request_id", None))
    if exc.status_code == 405:
        response.status_code = 405
    return response


async def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request.url.path, errors.EngineFailed("internal error: " + type(exc).__name__))
