"""Identifiers in the Responses API's shapes (`resp_...`, `msg_...`, `fc_...`, `rs_...`)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"
