"""Numeric limits every dialect's schema shares, so an out-of-range number is refused with its limit
instead of being wrapped or truncated on its way to the engine."""

from __future__ import annotations

# llama.cpp counts tokens (n_predict, top_k, n_ctx) in signed 32-bit integers: 4294967301 would become 5.
TOKEN_COUNT_MAX = 2**31 - 1
