"""How llama.cpp is started for embedding and reranking runners: the pooling a GGUF declares, and
whether it has the classifier head that reranking needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelrunner.core.errors import InvalidRequest
from modelrunner.store.gguf_header import read_gguf_header

POOLING_NONE, POOLING_MEAN, POOLING_CLS, POOLING_LAST, POOLING_RANK = 0, 1, 2, 3, 4
SENTENCE_POOLINGS = frozenset({POOLING_MEAN, POOLING_CLS, POOLING_LAST})
RANKING_HEAD_TENSORS = frozenset({"cls.weight", "cls.output.weight"})


def declared_pooling(metadata: dict[str, Any]) -> int | None:
    """`{architecture}.pooling_type` of the GGUF, if it declares one."""
    architecture = metadata.get("general.architecture")
    value = metadata.get(f"{architecture}.pooling_type")
    return int(value) if isinstance(value, int) else None


def mode_settings(gguf_path: Path, mode: str, *, label: str) -> dict[str, Any]:
    """The worker settings of a runner in `mode` (blocking: reads the GGUF header).

    Embedding runners pool the way the model declares, mean when it declares no sentence pooling;
    reranking runners need a ranking head, and a model without one is the caller's mistake."""
    if mode == "completion":
        return {}
    header = read_gguf_header(gguf_path)
    declared = declared_pooling(header.metadata)
    if mode == "embedding":
        return {"mode": mode, "pooling": None if declared in SENTENCE_POOLINGS else POOLING_MEAN}
    has_head = declared == POOLING_RANK or bool(RANKING_HEAD_TENSORS.intersection(header.tensor_names))
    if not has_head:
        raise InvalidRequest(f"{label} cannot rerank: it has no ranking head (no rank pooling or classifier "
                             "output in its GGUF); use a reranker model", param="model")
    return {"mode": mode, "pooling": POOLING_RANK}
