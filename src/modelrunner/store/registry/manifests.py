"""Checking a manifest fetched from a registry before anything is written: the artifact must be a
model modelrunner can read, and every digest well formed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from modelrunner.core.errors import StoreError, UnsupportedArtifact
from modelrunner.core.references import ModelReference
from modelrunner.store import media_types

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
INDEX_TYPES = frozenset({media_types.OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"})
MANIFEST_TYPES = frozenset({media_types.OCI_MANIFEST, media_types.DOCKER_MANIFEST})


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class RemoteModel:
    """A model's manifest as the registry served it, checked and ready to pull."""

    reference: ModelReference
    manifest_bytes: bytes
    manifest: dict[str, Any]

    @property
    def model_id(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest_bytes).hexdigest()

    @property
    def blobs(self) -> list[Blob]:
        config = self.manifest["config"]
        blobs = [Blob(config["digest"], int(config["size"]), config["mediaType"])]
        blobs += [Blob(l["digest"], int(l["size"]), l.get("mediaType", "")) for l in self.manifest["layers"]]
        return blobs

    @property
    def total_bytes(self) -> int:
        return sum(blob.size for blob in self.blobs)


def _check_descriptor(descriptor: Any, what: str) -> None:
    if not isinstance(descriptor, dict):
        raise UnsupportedArtifact(f"unsupported artifact: {what} is not a descriptor")
    if not isinstance(descriptor.get("digest"), str) or not _DIGEST.match(descriptor["digest"]):
        raise UnsupportedArtifact(f"unsupported artifact: {what} has digest {descriptor.get('digest')!r}, "
                                  "expected sha256:<64 hex>")
    size = descriptor.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UnsupportedArtifact(f"unsupported artifact: {what} has invalid size {size!r}")


def check_manifest(reference: ModelReference, raw: bytes, content_type: str) -> RemoteModel:
    """Parse and check a manifest; UnsupportedArtifact names what is wrong with it."""
    if reference.digest:
        actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        if actual != reference.digest:
            raise StoreError(f"manifest digest mismatch: asked for {reference.digest}, registry served {actual}")
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UnsupportedArtifact(f"unsupported artifact: the manifest of {reference.display} is not JSON") from exc
    if not isinstance(manifest, dict):
        raise UnsupportedArtifact(f"unsupported artifact: the manifest of {reference.display} is not an object")
    media_type = manifest.get("mediaType") or content_type
    if media_type in INDEX_TYPES:
        raise UnsupportedArtifact(f"unsupported artifact: {reference.display} is a multi-platform image index, "
                                  "not a model")
    if media_type not in MANIFEST_TYPES or manifest.get("schemaVersion") != 2:
        raise UnsupportedArtifact(f"unsupported artifact: {reference.display} has manifest type {media_type!r}")
    config = manifest.get("config")
    _check_descriptor(config, "the config")
    if config.get("mediaType") not in media_types.READABLE_CONFIGS:
        raise UnsupportedArtifact(
            f"unsupported artifact: {reference.display} has config media type {config.get('mediaType')!r} "
            f"(a container image?); modelrunner reads {', '.join(sorted(media_types.READABLE_CONFIGS))}"
        )
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise UnsupportedArtifact(f"unsupported artifact: the manifest of {reference.display} has no layers")
    for index, layer in enumerate(layers):
        _check_descriptor(layer, f"layer {index}")
    return RemoteModel(reference=reference, manifest_bytes=raw, manifest=manifest)
