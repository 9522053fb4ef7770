"""`hf.co/ORG/REPO[:QUANT]` pulls through `huggingface_hub`, against FakeHub (the real Hub is not
reachable from tests): the chosen quant, every shard, the mmproj, HF_TOKEN for gated repositories."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelrunner.core.errors import AuthenticationFailed, NotFound
from modelrunner.store import media_types
from modelrunner.store.files import sha256_of_file
from tests.support.distribution import distribution_on, pull
from tests.support.fake_hub import FakeHub, FakeRepo
from tests.support.tiny_model import write_tiny_llama_gguf


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    folder = tmp_path_factory.mktemp("hub-files")
    files = {
        "tiny-Q4_K_M.gguf": write_tiny_llama_gguf(folder / "a.gguf", seed=1),
        "tiny-Q8_0.gguf": write_tiny_llama_gguf(folder / "b.gguf", seed=2),
        "Q2_K/tiny-Q2_K-00001-of-00002.gguf": write_tiny_llama_gguf(folder / "c.gguf", seed=3),
        "Q2_K/tiny-Q2_K-00002-of-00002.gguf": write_tiny_llama_gguf(folder / "d.gguf", seed=4),
        "mmproj-tiny-f16.gguf": write_tiny_llama_gguf(folder / "e.gguf", seed=5),
        "README.md": folder / "README.md",
    }
    files["README.md"].write_text("# tiny\n")
    gated = {"model-Q4_K_M.gguf": shutil.copy(files["tiny-Q8_0.gguf"], folder / "gated.gguf")}
    repos = {"TestOrg/Tiny-GGUF": FakeRepo(files), "testorg/gated": FakeRepo({k: Path(v) for k, v in gated.items()},
                                                                             token="hf_test_token")}
    with FakeHub(repos) as running:
        yield running


def test_default_quant_with_mmproj(hub: FakeHub, tmp_path: Path) -> None:
    hub.downloads.clear()
    target = distribution_on(tmp_path / "store", hf_endpoint=hub.endpoint)
    events = pull(target, "hf.co/TestOrg/Tiny-GGUF")
    assert events[-1]["type"] == "success", events
    model = target.store.find("huggingface.co/testorg/tiny-gguf:Q4_K_M")
    assert model.tags == ("huggingface.co/testorg/tiny-gguf:latest", "huggingface.co/testorg/tiny-gguf:Q4_K_M")
    [gguf] = model.layers_of(media_types.GGUF)
    assert gguf["digest"] == "sha256:" + sha256_of_file(hub.repos["TestOrg/Tiny-GGUF"].files["tiny-Q4_K_M.gguf"])
    [mmproj] = model.layers_of(media_types.MMPROJ)
    assert mmproj["digest"] == "sha256:" + sha256_of_file(hub.repos["TestOrg/Tiny-GGUF"].files["mmproj-tiny-f16.gguf"])
    assert sorted(hub.downloads) == ["TestOrg/Tiny-GGUF/mmproj-tiny-f16.gguf", "TestOrg/Tiny-GGUF/tiny-Q4_K_M.gguf"]
    assert not list(target.store.root.glob(".hf-*"))


def test_a_sharded_quant_brings_every_shard_in_order(hub: FakeHub, tmp_path: Path) -> None:
    target = distribution_on(tmp_path / "store", hf_endpoint=hub.endpoint)
    assert pull(target, "hf.co/TestOrg/Tiny-GGUF:Q2_K")[-1]["type"] == "success"
    model = target.store.find("huggingface.co/testorg/tiny-gguf:Q2_K")
    files = hub.repos["TestOrg/Tiny-GGUF"].files
    assert [layer["digest"] for layer in model.layers_of(media_types.GGUF)] == [
        "sha256:" + sha256_of_file(files[f"Q2_K/tiny-Q2_K-0000{i}-of-00002.gguf"]) for i in (1, 2)]


def test_a_missing_repository_or_quant_is_not_found(hub: FakeHub, tmp_path: Path) -> None:
    target = distribution_on(tmp_path / "store", hf_endpoint=hub.endpoint)
    with pytest.raises(NotFound, match="model not found on Hugging Face"):
        pull(target, "hf.co/nobody/nothing")
    with pytest.raises(NotFound, match="Q5_K_M.*available"):
        pull(target, "hf.co/TestOrg/Tiny-GGUF:Q5_K_M")
    assert not (tmp_path / "store" / "models.json").exists() or target.store.list_models() == []


def test_a_gated_repository_needs_hf_token(hub: FakeHub, tmp_path: Path) -> None:
    anonymous = distribution_on(tmp_path / "anonymous", hf_endpoint=hub.endpoint)
    with pytest.raises((AuthenticationFailed, NotFound), match="HF_TOKEN"):
        pull(anonymous, "hf.co/testorg/gated")
    with_token = distribution_on(tmp_path / "token", hf_endpoint=hub.endpoint, hf_token="hf_test_token")
    assert pull(with_token, "hf.co/testorg/gated")[-1]["type"] == "success"
    assert "Bearer hf_test_token" in hub.authorizations
