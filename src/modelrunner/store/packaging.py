"""Turn local files (GGUF shards, licenses, a chat template) into a model artifact in the store:
the same OCI manifest and config Docker Model Runner's `package` produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from modelrunner.core.errors import InvalidRequest
from modelrunner.core.references import ModelReference
from modelrunner.store import media_types
from modelrunner.store.gguf_header import GGUFFormatError, read_gguf_header
from modelrunner.store.gguf_metadata import format_parameters, format_size, read_gguf_summary
from modelrunner.store.local_files import check_text_file
from modelrunner.store.models import StoredModel
from modelrunner.store.store import ModelStore


@dataclass(frozen=True)
class PackageSpec:
    """What goes into a model artifact. `gguf_paths` lists every shard, first shard first."""

    gguf_paths: list[Path]
    license_paths: list[Path] = field(default_factory=list)
    chat_template_path: Path | None = None
    mmproj_path: Path | None = None
    context_size: int | None = None
    created: datetime | None = None
    # The name recorded for a file whose path does not carry it (an uploaded blob is named by its digest).
    file_names: dict[Path, str] = field(default_factory=dict)

    def name_of(self, path: Path) -> str:
        return self.file_names.get(path, path.name)


def _layer(media_type: str, digest: str, size: int, filename: str | None = None) -> dict[str, Any]:
    layer: dict[str, Any] = {"mediaType": media_type, "size": size, "digest": digest}
    if filename:
        layer["annotations"] = {media_types.FILEPATH_ANNOTATION: filename}
    return layer


def _check_files(spec: PackageSpec) -> None:
    if not spec.gguf_paths:
        raise InvalidRequest("package needs at least one GGUF file")
    extra = [p for p in (spec.chat_template_path, spec.mmproj_path) if p is not None]
    for path in [*spec.gguf_paths, *spec.license_paths, *extra]:
        if not path.is_file():
            raise InvalidRequest(f"{path} is not a readable file")
    if spec.context_size is not None and spec.context_size < 1:
        raise InvalidRequest("context size must be a positive number of tokens")
    for path in [*spec.gguf_paths[1:], *([spec.mmproj_path] if spec.mmproj_path else [])]:
        try:
            read_gguf_header(path)
        except (OSError, GGUFFormatError) as exc:
            raise InvalidRequest(f"{spec.name_of(path)} is not a readable GGUF file: {exc}") from None
    for path in spec.license_paths:
        check_text_file(path, "license", spec.name_of(path))
    if spec.chat_template_path is not None:
        check_text_file(spec.chat_template_path, "chat template", spec.name_of(spec.chat_template_path))


def package_gguf(store: ModelStore, spec: PackageSpec, tags: list[ModelReference]) -> StoredModel:
    """Build the artifact, write its blobs and manifest, and tag it. Blocking: run it in a thread."""
    _check_files(spec)
    store.ensure_layout()
    summary = read_gguf_summary(spec.gguf_paths[0])

    layers: list[dict[str, Any]] = []
    sources: dict[str, Path | bytes] = {}
    total_size = 0
    for path in spec.gguf_paths:
        digest, size = store.put_blob_file(path)
        sources[digest] = path
        total_size += size
        layers.append(_layer(media_types.GGUF, digest, size, spec.name_of(path)))
    if spec.mmproj_path is not None:
        digest, size = store.put_blob_file(spec.mmproj_path)
        sources[digest] = spec.mmproj_path
        layers.append(_layer(media_types.MMPROJ, digest, size, spec.name_of(spec.mmproj_path)))
    if spec.chat_template_path is not None:
        digest, size = store.put_blob_file(spec.chat_template_path)
        sources[digest] = spec.chat_template_path
        layers.append(_layer(media_types.CHAT_TEMPLATE, digest, size, spec.name_of(spec.chat_template_path)))
    for path in spec.license_paths:
        digest, size = store.put_blob_file(path)
        sources[digest] = path
        layers.append(_layer(media_types.LICENSE, digest, size, spec.name_of(path)))

    model_config: dict[str, Any] = {
        "format": "gguf",
        "quantization": summary.quantization,
        "parameters": format_parameters(summary.parameter_count),
        "architecture": summary.architecture,
        "size": format_size(total_size),
    }
    if spec.context_size is not None:
        model_config["context_size"] = spec.context_size
    model_config["gguf"] = summary.metadata
    created = (spec.created or datetime.now(timezone.utc)).astimezone(timezone.utc)
    config_document = {
        "config": model_config,
        "descriptor": {"created": created.isoformat().replace("+00:00", "Z")},
        "rootfs": {"type": "rootfs", "diff_ids": [layer["digest"] for layer in layers]},
    }
    config_bytes = orjson.dumps(config_document)
    config_digest = store.put_blob_bytes(config_bytes)
    sources[config_digest] = config_bytes
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_types.OCI_MANIFEST,
        "config": {"mediaType": media_types.CONFIG_V01, "size": len(config_bytes), "digest": config_digest},
        "layers": layers,
    }
    return store.add_model(orjson.dumps(manifest), tags, sources)
