"""How llama.cpp is started for embedding and reranking runners: the pooling a GGUF declares, and
whether it has the classifier head that reranking needs."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.base import ModelFiles, RunnerMode

POOLING_NONE, POOLING_MEAN, POOLING_CLS, POOLING_LAST, POOLING_RANK = 0, 1, 2, 3, 4
SENTENCE_POOLINGS = frozenset({POOLING_MEAN, POOLING_CLS, POOLING_LAST})


def mode_settings(files: ModelFiles, mode: RunnerMode, *, label: str) -> dict[str, Any]:
    """The worker settings of a runner in `mode`. Embedding runners pool the way the model declares,
    mean when it declares no sentence pooling; reranking runners need a ranking head, and a model
    without one is the caller's mistake."""
    if mode == "completion":
        return {}
    if mode == "embedding":
        return {"mode": mode, "pooling": None if files.pooling_type in SENTENCE_POOLINGS else POOLING_MEAN}
    if files.pooling_type != POOLING_RANK and not files.has_ranking_head:
        raise InvalidRequest(f"{label} cannot rerank: it has no ranking head (no rank pooling or classifier "
                             "output in its GGUF); use a reranker model", param="model")
    return {"mode": mode, "pooling": POOLING_RANK}
