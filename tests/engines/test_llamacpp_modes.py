"""How embedding and reranking runners are configured from what a GGUF declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.llamacpp.modes import POOLING_MEAN, POOLING_RANK, mode_settings
from tests.support.tiny_reranker import write_tiny_reranker_gguf


@pytest.fixture(scope="module")
def reranker_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_reranker_gguf(tmp_path_factory.mktemp("reranker") / "reranker.gguf")


def test_completion_runners_need_nothing(tiny_gguf: Path) -> None:
    assert mode_settings(tiny_gguf, "completion", label="tiny") == {}


def test_a_model_declaring_no_pooling_embeds_with_mean(tiny_gguf: Path) -> None:
    assert mode_settings(tiny_gguf, "embedding", label="tiny") == {"mode": "embedding", "pooling": POOLING_MEAN}


def test_a_model_with_a_ranking_head_reranks(reranker_gguf: Path) -> None:
    assert mode_settings(reranker_gguf, "reranking", label="r") == {"mode": "reranking", "pooling": POOLING_RANK}


def test_a_model_without_a_ranking_head_is_refused(tiny_gguf: Path) -> None:
    with pytest.raises(InvalidRequest, match="no ranking head"):
        mode_settings(tiny_gguf, "reranking", label="tiny")
