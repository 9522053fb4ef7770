"""Which files of a Hugging Face repository a `hf.co/ORG/REPO[:QUANT]` reference pulls."""

from __future__ import annotations

import pytest

from modelrunner.core.errors import NotFound, UnsupportedArtifact
from modelrunner.store.hf_selection import select_files

REPO = [
    "README.md",
    "model-Q2_K.gguf",
    "model-Q4_K_M.gguf",
    "model-Q8_0.gguf",
    "model-q5_k_s.gguf",
    "mmproj-model-f16.gguf",
    "big/model-Q6_K-00002-of-00003.gguf",
    "big/model-Q6_K-00001-of-00003.gguf",
    "big/model-Q6_K-00003-of-00003.gguf",
    "Q3_K_L/model-00001-of-00002.gguf",
    "Q3_K_L/model-00002-of-00002.gguf",
]


@pytest.mark.parametrize(
    ("files", "tag", "ggufs", "mmproj", "quant"),
    [
        (REPO, None, ["model-Q4_K_M.gguf"], "mmproj-model-f16.gguf", "Q4_K_M"),
        (REPO, "latest", ["model-Q4_K_M.gguf"], "mmproj-model-f16.gguf", "Q4_K_M"),
        (REPO, "Q8_0", ["model-Q8_0.gguf"], "mmproj-model-f16.gguf", "Q8_0"),
        (REPO, "Q5_K_S", ["model-q5_k_s.gguf"], "mmproj-model-f16.gguf", "Q5_K_S"),
        (REPO, "Q6_K", ["big/model-Q6_K-00001-of-00003.gguf", "big/model-Q6_K-00002-of-00003.gguf",
                        "big/model-Q6_K-00003-of-00003.gguf"], "mmproj-model-f16.gguf", "Q6_K"),
        (REPO, "Q3_K_L", ["Q3_K_L/model-00001-of-00002.gguf", "Q3_K_L/model-00002-of-00002.gguf"],
         "mmproj-model-f16.gguf", "Q3_K_L"),
        (["b-Q8_0.gguf", "a-Q2_K.gguf"], None, ["a-Q2_K.gguf"], None, "Q2_K"),
        (["x-Q4_K_M.gguf", "x-IQ4_K_M.gguf"], None, ["x-Q4_K_M.gguf"], None, "Q4_K_M"),
        (["m-F16.gguf", "mmproj-F16.gguf", "mmproj-Q8_0.gguf"], "F16", ["m-F16.gguf"], "mmproj-F16.gguf", "F16"),
    ],
)
def test_selection(files: list[str], tag: str | None, ggufs: list[str], mmproj: str | None, quant: str) -> None:
    selection = select_files(files, tag)
    assert selection.gguf_files == ggufs
    assert selection.mmproj_file == mmproj
    assert selection.quant == quant


def test_an_absent_quant_names_the_available_ones() -> None:
    with pytest.raises(NotFound, match="Q9_9.*available: Q2_K, Q4_K_M, Q8_0"):
        select_files(["m-Q2_K.gguf", "m-Q4_K_M.gguf", "m-Q8_0.gguf"], "Q9_9")


def test_a_repository_without_gguf_is_an_unsupported_artifact() -> None:
    with pytest.raises(UnsupportedArtifact, match="no GGUF"):
        select_files(["model.safetensors", "config.json"], None)
