"""`hf.co/ORG/REPO[:QUANT]` pulls through `huggingface_hub`, against FakeHub (the real Hub is not
reachable from tests): the chosen quant, every shard, the mmproj, HF_TOKEN for gated repositories; a
dropped download resumes, and a failed pull keeps or removes its partial file as asked (keep-partial)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelrunner.core.errors import AuthenticationFailed, NotFound, RegistryUnavailable, StoreError
from modelrunner.store import media_types
from modelrunner.store.files import sha256_of_file
from modelrunner.store.store import ModelStore
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


def _partial_files(store_root: Path) -> list[Path]:
    return sorted(path for path in store_root.glob(".hf-*/*") if path.is_file())


@pytest.fixture
def cut_hub(tmp_path: Path) -> Iterator[FakeHub]:
    """A one-file repository whose download the test cuts; each test gets its own hub and counters."""
    gguf = write_tiny_llama_gguf(tmp_path / "cut.gguf", seed=7)
    with FakeHub({"TestOrg/Cut-GGUF": FakeRepo({"cut-Q4_K_M.gguf": gguf})}) as running:
        yield running


def _cut_every_attempt(hub: FakeHub, after_bytes: int) -> None:
    hub.cut_after_bytes = {"cut-Q4_K_M.gguf": after_bytes}
    hub.cut_count = 3  # distribution_on allows 3 attempts: the pull fails


def test_a_dropped_connection_resumes_within_the_pull(cut_hub: FakeHub, tmp_path: Path) -> None:
    cut = cut_hub.repos["TestOrg/Cut-GGUF"].files["cut-Q4_K_M.gguf"].stat().st_size // 2
    cut_hub.cut_after_bytes, cut_hub.cut_count = {"cut-Q4_K_M.gguf": cut}, 1
    target = distribution_on(tmp_path / "store", hf_endpoint=cut_hub.endpoint)

    assert pull(target, "hf.co/TestOrg/Cut-GGUF")[-1]["type"] == "success"

    assert cut_hub.ranges == [f"cut-Q4_K_M.gguf bytes={cut}-"]
    assert not list(target.store.root.glob(".hf-*"))


def test_with_keep_partial_a_failed_pull_keeps_its_partial_file_and_the_next_pull_resumes_it(
        cut_hub: FakeHub, tmp_path: Path) -> None:
    keep_partial = True
    source = cut_hub.repos["TestOrg/Cut-GGUF"].files["cut-Q4_K_M.gguf"]
    cut = source.stat().st_size // 3
    _cut_every_attempt(cut_hub, cut)
    target = distribution_on(tmp_path / "store", hf_endpoint=cut_hub.endpoint)

    with pytest.raises(RegistryUnavailable, match="partial download was kept: pulling again resumes it"):
        pull(target, "hf.co/TestOrg/Cut-GGUF", keep_partial=keep_partial)
    [partial] = _partial_files(target.store.root)
    assert partial.name.endswith(".incomplete") and partial.stat().st_size == cut
    assert partial.read_bytes() == source.read_bytes()[:cut]
    assert target.store.list_models() == []

    events = pull(target, "hf.co/TestOrg/Cut-GGUF", keep_partial=keep_partial)

    assert events[-1]["type"] == "success", events
    assert cut_hub.ranges[-1] == f"cut-Q4_K_M.gguf bytes={cut}-"
    [gguf] = target.store.find("huggingface.co/testorg/cut-gguf:Q4_K_M").layers_of(media_types.GGUF)
    assert gguf["digest"] == "sha256:" + sha256_of_file(source)
    assert gguf["annotations"][media_types.FILEPATH_ANNOTATION] == "cut-Q4_K_M.gguf"
    assert not list(target.store.root.glob(".hf-*"))


@pytest.mark.parametrize("keep_partial", [False, None], ids=["discard-partial", "default"])
def test_without_keep_partial_a_failed_pull_leaves_nothing_behind(cut_hub: FakeHub, tmp_path: Path,
                                                                  keep_partial: bool | None) -> None:
    _cut_every_attempt(cut_hub, 1000)
    target = distribution_on(tmp_path / "store", hf_endpoint=cut_hub.endpoint)

    with pytest.raises(RegistryUnavailable, match="partial download was removed"):
        pull(target, "hf.co/TestOrg/Cut-GGUF", keep_partial=keep_partial)

    assert not list(target.store.root.glob(".hf-*"))
    assert target.store.list_models() == []
    cut_hub.ranges.clear()
    assert pull(target, "hf.co/TestOrg/Cut-GGUF", keep_partial=False)[-1]["type"] == "success"
    assert cut_hub.ranges == []  # nothing was left to resume from: the whole file came again


def test_a_file_that_does_not_match_its_sha256_is_refused(cut_hub: FakeHub, tmp_path: Path) -> None:
    source = cut_hub.repos["TestOrg/Cut-GGUF"].files["cut-Q4_K_M.gguf"]
    target = distribution_on(tmp_path / "store", hf_endpoint=cut_hub.endpoint)
    cut = source.stat().st_size // 2
    _cut_every_attempt(cut_hub, cut)
    with pytest.raises(RegistryUnavailable):
        pull(target, "hf.co/TestOrg/Cut-GGUF", keep_partial=True)
    [partial] = _partial_files(target.store.root)
    partial.write_bytes(b"\0" * cut)  # the kept bytes are damaged on disk

    with pytest.raises(StoreError, match="does not match its sha256"):
        pull(target, "hf.co/TestOrg/Cut-GGUF", keep_partial=True)
    assert not _partial_files(target.store.root)
    assert target.store.list_models() == []


def test_partial_folders_nobody_resumed_for_a_week_are_removed(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    store.ensure_layout()
    stale, fresh = store.root / ".hf-stale", store.root / ".hf-fresh"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "part.incomplete").write_bytes(b"x" * 10)
    week_ago = time.time() - 8 * 24 * 3600
    for path in (stale / "part.incomplete", stale):
        os.utime(path, (week_ago, week_ago))

    assert store.remove_stale_partials() == 1

    assert not stale.exists() and (fresh / "part.incomplete").exists()
