"""What the store holds about one model: its manifest, config and tags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelrunner.core.references import display_name
from modelrunner.store import media_types

__all__ = ["Bundle", "StoredModel", "display_name", "layer_filename"]


@dataclass(frozen=True)
class StoredModel:
    """A model in the store. Its identity is the digest of its manifest (`sha256:<hex>`)."""

    id: str
    tags: tuple[str, ...]
    manifest: dict[str, Any]
    config_document: dict[str, Any]

    @property
    def hex_id(self) -> str:
        return self.id.removeprefix("sha256:")

    @property
    def short_id(self) -> str:
        return self.hex_id[:12]

    @property
    def config(self) -> dict[str, Any]:
        """The model facts (`format`, `quantization`, `parameters`, ...) from the config blob."""
        return self.config_document.get("config", {})

    @property
    def created(self) -> int:
        from datetime import datetime

        stamp = self.config_document.get("descriptor", {}).get("created")
        if not stamp:
            return 0
        try:
            return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return 0

    @property
    def context_size(self) -> int | None:
        value = self.config.get("context_size")
        return int(value) if value else None

    def layers_of(self, media_type: str) -> list[dict[str, Any]]:
        return [layer for layer in self.manifest.get("layers", []) if layer.get("mediaType") == media_type]

    @property
    def blob_digests(self) -> list[str]:
        digests = [self.manifest["config"]["digest"]]
        digests.extend(layer["digest"] for layer in self.manifest.get("layers", []))
        return digests

    def to_api(self) -> dict[str, Any]:
        """The shape of `GET /models` items (Docker Model Runner's)."""
        return {
            "id": self.id,
            "tags": [display_name(tag) for tag in self.tags],
            "created": self.created,
            "config": self.config,
        }


@dataclass(frozen=True)
class Bundle:
    """A model unpacked for an engine: plain files an engine can open by path."""

    root: Path
    gguf_path: Path
    mmproj_path: Path | None
    chat_template_path: Path | None
    model: StoredModel


def layer_filename(layer: dict[str, Any], fallback: str) -> str:
    annotations = layer.get("annotations") or {}
    name = annotations.get(media_types.FILEPATH_ANNOTATION) or annotations.get("org.opencontainers.image.title")
    if name and "/" not in name and name not in (".", ".."):
        return name
    return fallback
