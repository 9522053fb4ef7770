"""Numeric limits every dialect's schema shares, so an out-of-range number is refused with its limit
instead of being wrapped or truncated on its way to the engine."""

from __future__ import annotations

# llama.cpp counts tokens (n_predict, top_k, n_ctx) in signed 32-bit integers: 4294967301 would become 5.
TOKEN_COUNT_MAX = 2**31 - 1

# One text field (an embedding input, a rerank document, a Responses input or instructions): longer than
# the longest context a runner takes (2**20 tokens) at 4 characters a token, so never a real prompt's.
TEXT_CHARS_MAX = 4 * 1024 * 1024
# Token ids given instead of a text (one embedding input): no context is longer.
TOKEN_IDS_MAX = 2**20
