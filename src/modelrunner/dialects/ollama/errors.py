"""Errors in Ollama's envelope: `{"error": "message"}`."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import ModelRunnerError


def error_body(error: ModelRunnerError, status: int) -> dict[str, Any]:
    return {"error": error.message}
