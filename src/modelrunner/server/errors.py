"""Errors -> HTTP: the one table from error kind to status, and the envelope of the API whose route
was called (the router stamps it on the scope; see `server/apis.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelrunner.core import errors
from modelrunner.core.errors import ErrorKind
from modelrunner.dialects.anthropic.errors import error_body as anthropic_error_body
from modelrunner.dialects.ollama.errors import error_body as ollama_error_body
from modelrunner.dialects.openai.errors import error_body as openai_error_body
from modelrunner.server.apis import Api, api_of


_STATUS_BY_KIND: dict[ErrorKind, int] = {
    "invalid_request": 400,
    "request_too_large": 413,
    "unprocessable": 422,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "conflict": 409,
    "overloaded": 429,
    "capacity": 503,
    "engine_failed": 500,
    "upstream_unavailable": 502,
    "insufficient_storage": 507,
    "internal": 500,
}
_ANTHROPIC_CAPACITY_STATUS = 529
"""Anthropic says 529 where a server is out of capacity."""

EnvelopeBuilder = Callable[[errors.ModelRunnerError, str | None], dict[str, Any]]
ENVELOPES: dict[Api, EnvelopeBuilder] = {
    "anthropic": anthropic_error_body,
    "openai": openai_error_body,
    "ollama": ollama_error_body,
}


def status_for(error: errors.ModelRunnerError, api: Api = "openai") -> int:
    if api == "anthropic" and error.kind == "capacity":
        return _ANTHROPIC_CAPACITY_STATUS
    return _STATUS_BY_KIND.get(error.kind, 500)


def error_headers(error: errors.ModelRunnerError, status: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    if error.retry_after_s is not None:
        headers["retry-after"] = str(max(1, round(error.retry_after_s)))
    if status >= 500 and not error.retryable:
        headers["x-should-retry"] = "false"
    return headers


def error_document(api: Api, error: errors.ModelRunnerError, request_id: str | None = None) -> dict[str, Any]:
    """The error in `api`'s envelope, for a response or for an event in a stream already under way."""
    return ENVELOPES[api](error, request_id)


def error_response(api: Api, error: errors.ModelRunnerError, request_id: str | None = None) -> Response:
    status = status_for(error, api)
    return Response(orjson.dumps(error_document(api, error, request_id)), status_code=status,
                    media_type="application/json", headers=error_headers(error, status))


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def handle_model_runner_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ModelRunnerError)
    return error_response(api_of(request.scope), exc, _request_id(request))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: errors.ModelRunnerError
    if exc.status_code == 404:
        error = errors.NotFound(f"no route {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = errors.InvalidRequest(f"method {request.method} is not allowed on {request.url.path}")
    else:
        error = errors.InvalidRequest(str(exc.detail))
    response = error_response(api_of(request.scope), error, _request_id(request))
    if exc.status_code == 405:
        response.status_code = 405
    return response


async def handle_request_validation_error(request: Request, exc: Exception) -> Response:
    """A path or query parameter of the wrong type (`?limit=many`): a 400 in the route's envelope,
    naming the parameter, where FastAPI would answer its own 422 shape."""
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
                         for problem in exc.errors())
    return error_response(api_of(request.scope), errors.InvalidRequest(problems), _request_id(request))
