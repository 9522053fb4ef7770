"""What a recorded body may keep: image data and other base64 cut to a short prefix, secrets dropped."""

from __future__ import annotations

import re
from typing import Any

KEPT_PREFIX_CHARS = 48
LONG_STRING_CHARS = 256
SECRET_KEYS = frozenset({"api_key", "apikey", "x-api-key", "authorization", "password", "secret", "token",
                         "access_token", "refresh_token"})
REDACTED = "[redacted]"
_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]+")


def _cut(text: str) -> str:
    return f"{text[:KEPT_PREFIX_CHARS]}… ({len(text)} characters cut by the recorder)"


def _is_base64_like(text: str) -> bool:
    return len(text) > LONG_STRING_CHARS and _BASE64.fullmatch(text) is not None


def cut_string(text: str) -> str:
    """A data URL or a long base64 run keeps only its start; prose is kept whole."""
    if text.startswith("data:") and ";base64," in text[:128]:
        return _cut(text)
    if _is_base64_like(text):
        return _cut(text)
    return text


def redact(value: Any) -> Any:
    """A copy of a decoded JSON value fit to keep: secrets replaced, image data and base64 cut."""
    if isinstance(value, str):
        return cut_string(value)
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in SECRET_KEYS:
                kept[key] = REDACTED
            elif key == "data" and isinstance(item, str) and len(item) > KEPT_PREFIX_CHARS * 2:
                kept[key] = _cut(item)  # an Anthropic base64 image or document source
            else:
                kept[key] = redact(item)
        return kept
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
