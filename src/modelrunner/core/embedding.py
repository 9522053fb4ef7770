"""What embedding and reranking runners return, and the vector arithmetic every API shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelrunner.core.errors import InvalidRequest

EmbeddingInput = str | list[int]
"""A text, or the token ids of one (OpenAI accepts both)."""


@dataclass(frozen=True, slots=True)
class Embeddings:
    """One unit-length vector per input, in input order, and the tokens the engine evaluated."""

    vectors: list[list[float]]
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class RankScores:
    """One relevance score per document, in document order, and the tokens the engine evaluated."""

    scores: list[float]
    prompt_tokens: int


def unit_length(vector: list[float]) -> list[float]:
    """`vector` scaled to length 1 (as it is when it is already, or all zeros)."""
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm > 0 else vector


def shorten(vector: list[float], dimensions: int | None) -> list[float]:
    """The first `dimensions` components, scaled back to unit length (Matryoshka-style truncation)."""
    if dimensions is None or dimensions == len(vector):
        return vector
    if dimensions > len(vector):
        raise InvalidRequest(f"dimensions: {dimensions} is more than this model's {len(vector)}",
                             param="dimensions")
    return unit_length(vector[:dimensions])
