"""Identifiers in Anthropic's shapes (`msg_...`, `toolu_...`), matching `^[a-zA-Z0-9_-]+$`."""

from __future__ import annotations

import secrets


def message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def tool_use_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def thinking_signature() -> str:
    """An opaque, non-empty signature: clients send it back, and any signature is accepted then."""
    return "modelrunner_" + secrets.token_hex(16)
