"""Our GGUF header reader agrees with the reference reader from the `gguf` package."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from modelrunner.store.gguf_header import ARRAY_ITEMS_KEPT, GGUFFormatError, read_gguf_header, read_pooling
from tests.support.tiny_reranker import POOLING_RANK, write_tiny_reranker_gguf
from modelrunner.store.gguf_metadata import read_gguf_summary


def test_header_matches_the_reference_reader(tiny_gguf: Path) -> None:
    reference = gguf.GGUFReader(str(tiny_gguf))
    header = read_gguf_header(tiny_gguf)
    assert header.parameter_count == sum(int(t.n_elements) for t in reference.tensors)
    for key, reader_field in reference.fields.items():
        if key.startswith("GGUF."):
            continue
        expected = reader_field.contents()
        if isinstance(expected, list):
            assert header.array_lengths[key] == len(expected)
            assert header.metadata[key] == expected[:ARRAY_ITEMS_KEPT]
        elif isinstance(expected, float):
            assert header.metadata[key] == pytest.approx(expected)
        else:
            assert header.metadata[key] == expected, key


def test_summary_of_the_tiny_model(tiny_gguf: Path) -> None:
    summary = read_gguf_summary(tiny_gguf)
    assert summary.architecture == "llama"
    assert summary.context_length == 2048
    assert summary.chat_template and "im_start" in summary.chat_template
    assert "tokenizer.ggml.tokens" not in summary.metadata


@pytest.mark.parametrize("cut", [0, 3, 20, 200, 5000])
def test_truncated_or_foreign_files_are_refused(tiny_gguf: Path, tmp_path: Path, cut: int) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_gguf.read_bytes()[:cut])
    with pytest.raises(GGUFFormatError):
        read_gguf_header(broken)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "model.bin"
    other.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(GGUFFormatError, match="magic"):
        read_gguf_header(other)


def test_pooling_facts_of_a_chat_model_and_a_reranker(tiny_gguf: Path, tmp_path: Path) -> None:
    assert read_pooling(tiny_gguf) == (None, False)
    assert read_pooling(write_tiny_reranker_gguf(tmp_path / "reranker.gguf")) == (POOLING_RANK, True)
