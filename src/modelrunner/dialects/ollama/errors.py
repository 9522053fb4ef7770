"""Errors in Ollama's envelope: `{"error": "message"}` (Ollama has no error types)."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import ModelRunnerError


def error_body(error: ModelRunnerError, request_id: str | None = None) -> dict[str, Any]:
    """`request_id` is accepted for a uniform signature; Ollama carries it in a header only."""
    return {"error": error.message}
