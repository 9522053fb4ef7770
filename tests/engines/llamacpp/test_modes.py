"""How embedding and reranking runners are configured from the pooling facts the store read."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.base import ModelFiles
from modelrunner.engines.llamacpp.modes import POOLING_CLS, POOLING_MEAN, POOLING_RANK, mode_settings


def _files(pooling_type: int | None = None, has_ranking_head: bool = False) -> ModelFiles:
    return ModelFiles(model_id="sha256:0", gguf_path=Path("model.gguf"), pooling_type=pooling_type,
                      has_ranking_head=has_ranking_head)


def test_completion_runners_need_nothing() -> None:
    assert mode_settings(_files(), "completion", label="tiny") == {}


def test_a_model_declaring_no_pooling_embeds_with_mean() -> None:
    assert mode_settings(_files(), "embedding", label="tiny") == {"mode": "embedding", "pooling": POOLING_MEAN}


def test_a_model_declaring_a_sentence_pooling_keeps_it() -> None:
    assert mode_settings(_files(POOLING_CLS), "embedding", label="e") == {"mode": "embedding", "pooling": None}


def test_a_model_with_a_ranking_head_reranks() -> None:
    expected = {"mode": "reranking", "pooling": POOLING_RANK}
    assert mode_settings(_files(has_ranking_head=True), "reranking", label="r") == expected
    assert mode_settings(_files(POOLING_RANK), "reranking", label="r") == expected


def test_a_model_without_a_ranking_head_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="no ranking head"):
        mode_settings(_files(POOLING_MEAN), "reranking", label="tiny")
