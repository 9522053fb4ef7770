"""Packaging a sharded GGUF takes every shard, in order, when given the first one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.store import media_types
from modelrunner.store.distribution import PackageRequest
from modelrunner.store.files import sha256_of_file
from tests.support.distribution import distribution_on
from tests.support.tiny_model import write_tiny_llama_gguf


def test_every_shard_is_packaged_in_order(tmp_path: Path) -> None:
    shards = [write_tiny_llama_gguf(tmp_path / f"model-0000{i}-of-00003.gguf", seed=i) for i in (1, 2, 3)]
    template = tmp_path / "template.jinja"
    template.write_text("{{ messages }}")
    distribution = distribution_on(tmp_path / "store")
    model = asyncio.run(distribution.package(PackageRequest(gguf_path=shards[0], target="me/sharded:v1",
                                                            chat_template_path=template, context_size=512)))
    assert [layer["digest"] for layer in model.layers_of(media_types.GGUF)] == [
        "sha256:" + sha256_of_file(shard) for shard in shards]
    assert len(model.layers_of(media_types.CHAT_TEMPLATE)) == 1
    assert model.context_size == 512
    assert model.tags == ("docker.io/me/sharded:v1",)


def test_a_missing_shard_is_refused(tmp_path: Path) -> None:
    first = write_tiny_llama_gguf(tmp_path / "model-00001-of-00002.gguf", seed=1)
    distribution = distribution_on(tmp_path / "store")
    with pytest.raises(InvalidRequest, match="missing .*model-00002-of-00002.gguf"):
        asyncio.run(distribution.package(PackageRequest(gguf_path=first, target="me/sharded:v1")))
    assert not (tmp_path / "store" / "models.json").exists() or distribution.store.list_models() == []
