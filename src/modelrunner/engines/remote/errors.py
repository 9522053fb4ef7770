"""An upstream's error answers mapped onto our hierarchy. Every message names the upstream, so a
client of a runner that fronts several knows which one failed."""

from __future__ import annotations

from typing import Any

import orjson

from modelrunner.core.errors import (
    ContextOverflow,
    EngineFailed,
    InvalidRequest,
    ModelRunnerError,
    Overloaded,
    Unsupported,
)

OVERLOAD_STATUSES = (429, 503)
DEFAULT_RETRY_AFTER_S = 1.0
MAX_MESSAGE_CHARS = 500


def _error_object(payload: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {"message": payload[:MAX_MESSAGE_CHARS].decode("utf-8", "replace").strip()}
    if not isinstance(document, dict):
        return {}
    error = document.get("error", document)
    if isinstance(error, str):
        return {"message": error}
    return error if isinstance(error, dict) else {}


def retry_after_seconds(header: str | None) -> float:
    try:
        return max(0.0, float(header)) if header else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


def upstream_error(status: int, payload: bytes, *, upstream: str, retry_after: str | None = None) -> ModelRunnerError:
    """The error an upstream's non-200 answer becomes (429/503 are the API's own overload error)."""
    error = _error_object(payload)
    message = str(error.get("message") or error.get("detail") or f"HTTP {status}")[:MAX_MESSAGE_CHARS]
    if status in OVERLOAD_STATUSES:
        return Overloaded(f"upstream {upstream} is busy ({status}): {message}",
                          retry_after_s=retry_after_seconds(retry_after))
    if error.get("type") == "exceed_context_size_error":
        return ContextOverflow(int(error.get("n_prompt_tokens") or 0), int(error.get("n_ctx") or 0))
    if status in (401, 403):
        return EngineFailed(f"upstream {upstream} refused our credentials ({status}): check its api_key_env")
    if status == 501 or error.get("type") == "not_supported_error":
        return Unsupported(f"upstream {upstream}: {message}")
    if status in (400, 422):
        return InvalidRequest(f"upstream {upstream}: {message}")
    return EngineFailed(f"upstream {upstream} failed ({status}): {message}", retryable=status >= 500)
