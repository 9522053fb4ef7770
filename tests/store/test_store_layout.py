"""The store writes Docker Model Runner's layout and finds models by every name a user may type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelrunner.core.errors import Conflict, InvalidRequest, ModelNotFound, UnsupportedArtifact
from modelrunner.core.references import parse_reference
from modelrunner.store import media_types
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore


@pytest.fixture
def store(tmp_path: Path, tiny_gguf: Path) -> ModelStore:
    store = ModelStore(tmp_path / "models")
    license_file = tmp_path / "LICENSE"
    license_file.write_text("Apache-2.0")
    package_gguf(store, PackageSpec(gguf_paths=[tiny_gguf], license_paths=[license_file], context_size=1024),
                 [parse_reference("ai/tiny"), parse_reference("ai/tiny:Q8")])
    return store


def test_layout_index_manifest_and_config_match_docker_model_runner(store: ModelStore, tiny_gguf: Path) -> None:
    root = store.root
    assert json.loads((root / "layout.json").read_text()) == {"version": "1.0.0"}
    (entry,) = json.loads((root / "models.json").read_text())["models"]
    assert entry["tags"] == ["docker.io/ai/tiny:latest", "docker.io/ai/tiny:Q8"]
    assert entry["id"].startswith("sha256:")
    manifest_bytes = (root / "manifests" / "sha256" / entry["id"][7:]).read_bytes()
    manifest = json.loads(manifest_bytes)
    assert manifest["mediaType"] == media_types.OCI_MANIFEST
    assert manifest["config"]["mediaType"] == media_types.CONFIG_V01
    assert [layer["mediaType"] for layer in manifest["layers"]] == [media_types.GGUF, media_types.LICENSE]
    for digest in entry["files"]:
        assert (root / "blobs" / "sha256" / digest[7:]).is_file()
    config = json.loads((root / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_text())
    assert config["config"]["format"] == "gguf"
    assert config["config"]["architecture"] == "llama"
    assert config["config"]["quantization"] == "F32"
    assert config["config"]["context_size"] == 1024
    assert config["config"]["gguf"]["general.name"] == "tiny-llama"
    assert "tokenizer.ggml.tokens" not in config["config"]["gguf"]
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in manifest["layers"]]
    gguf_blob = root / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]
    assert gguf_blob.read_bytes() == tiny_gguf.read_bytes()


@pytest.mark.parametrize("name", ["tiny", "ai/tiny", "ai/tiny:latest", "docker.io/ai/tiny:latest", "ai/tiny:Q8"])
def test_every_form_of_the_name_finds_the_model(store: ModelStore, name: str) -> None:
    assert store.find(name).tags == ("docker.io/ai/tiny:latest", "docker.io/ai/tiny:Q8")


def test_model_ids_find_the_model(store: ModelStore) -> None:
    model = store.find("ai/tiny")
    assert store.find(model.id).id == model.id
    assert store.find(model.hex_id).id == model.id
    assert store.find(model.short_id).id == model.id


def test_unknown_and_malformed_names(store: ModelStore) -> None:
    with pytest.raises(ModelNotFound):
        store.find("ai/other")
    with pytest.raises(InvalidRequest):
        store.find("../../etc/passwd")


def test_untagging_keeps_the_model_until_its_last_tag(store: ModelStore) -> None:
    model = store.find("ai/tiny")
    with pytest.raises(Conflict):
        store.remove(model.id)
    assert store.remove("ai/tiny:Q8") == ["Untagged: docker.io/ai/tiny:Q8"]
    assert store.find("ai/tiny").id == model.id
    removed = store.remove("ai/tiny")
    assert removed[-1] == f"Deleted: {model.id}"
    assert json.loads(store.index_path.read_text()) == {"models": []}
    assert not list((store.root / "blobs" / "sha256").iterdir())
    assert not store.manifest_path(model.id).exists()


def test_unknown_config_media_types_are_refused(store: ModelStore) -> None:
    config_digest = store.put_blob_bytes(b"{}")
    manifest = {"schemaVersion": 2, "mediaType": media_types.OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.example.other+json", "digest": config_digest, "size": 2},
                "layers": []}
    with pytest.raises(UnsupportedArtifact):
        store.add_model(json.dumps(manifest).encode(), [parse_reference("ai/other")])
    assert [m.tags for m in store.list_models()] == [("docker.io/ai/tiny:latest", "docker.io/ai/tiny:Q8")]


def test_a_bundle_links_the_gguf_for_the_engine(store: ModelStore, tiny_gguf: Path) -> None:
    bundle = store.ensure_bundle(store.find("ai/tiny"))
    assert bundle.gguf_path.read_bytes() == tiny_gguf.read_bytes()
    assert json.loads((bundle.root / "config.json").read_text())["config"]["context_size"] == 1024
