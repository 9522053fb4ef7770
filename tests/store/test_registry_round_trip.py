"""Push then pull through a real registry: the model keeps its ID and every byte."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
import orjson
import pytest

from modelrunner.core.errors import NotFound, UnsupportedArtifact
from modelrunner.core.references import parse_reference
from modelrunner.settings import Settings
from modelrunner.store import media_types
from modelrunner.store.files import sha256_of_file
from modelrunner.store.registry.client import RegistryClient
from modelrunner.store.registry.manifests import Blob
from modelrunner.store.registry.push import Pusher
from tests.support.distribution import distribution_on, packaged_store, pull, push
from tests.support.registry import RegistryProcess


def test_push_then_pull_keeps_the_model_id_and_blobs(registry: RegistryProcess, tiny_gguf: Path, tmp_path: Path) -> None:
    name = f"{registry.host}/roundtrip/tiny:v1"
    source = packaged_store(tmp_path / "source", tiny_gguf, name)
    pushed = push(distribution_on(source.root), name)
    assert pushed[-1]["type"] == "success", pushed
    assert any(e.get("layer") for e in pushed)

    target = distribution_on(tmp_path / "target")
    events = pull(target, name)
    assert events[-1]["type"] == "success", events
    assert events[-1]["message"] == "Model pulled successfully"
    original, copy = source.find(name), target.store.find(name)
    assert copy.id == original.id
    for digest in original.blob_digests:
        assert sha256_of_file(target.store.blob_path(digest)) == digest.removeprefix("sha256:")
    assert not list((target.store.root / "blobs" / "sha256").glob("*.incomplete"))
    progress = [e for e in events if e["type"] == "progress"]
    assert progress[-1]["pulled"] == progress[-1]["total"] == sum(
        layer["size"] for layer in original.manifest["layers"]) + original.manifest["config"]["size"]


def test_pulling_a_present_model_transfers_nothing_but_the_manifest(registry: RegistryProcess, tiny_gguf: Path,
                                                                      tmp_path: Path) -> None:
    name = f"{registry.host}/present/tiny:v1"
    source = packaged_store(tmp_path / "source", tiny_gguf, name)
    push(distribution_on(source.root), name)
    target = distribution_on(tmp_path / "target")
    pull(target, name)
    again = pull(target, name)
    assert [e["type"] for e in again] == ["success"]
    assert "up to date" in again[0]["message"]


def test_a_missing_model_is_not_found_and_the_store_stays_empty(registry: RegistryProcess, tmp_path: Path) -> None:
    target = distribution_on(tmp_path / "target")
    with pytest.raises(NotFound, match="model not found in registry"):
        pull(target, f"{registry.host}/nobody/nothing:v1")
    assert target.store.list_models() == []


def test_a_container_image_is_refused_as_an_unsupported_artifact(registry: RegistryProcess, tmp_path: Path) -> None:
    config = b'{"architecture":"amd64","os":"linux"}'
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    base = f"{registry.url}/v2/images/busybox"
    upload = httpx.post(f"{base}/blobs/uploads/")
    location = httpx.URL(registry.url).join(upload.headers["location"])
    httpx.put(f"{location}&digest={digest}", content=config).raise_for_status()
    manifest = orjson.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                        "digest": digest, "size": len(config)}, "layers": []})
    httpx.put(f"{base}/manifests/latest", content=manifest,
              headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}).raise_for_status()

    target = distribution_on(tmp_path / "target")
    with pytest.raises(UnsupportedArtifact, match="config media type 'application/vnd.oci.image.config.v1\\+json'"):
        pull(target, f"{registry.host}/images/busybox")
    assert not (tmp_path / "target" / "models.json").exists() or target.store.list_models() == []


def test_chunked_upload_round_trip(registry: RegistryProcess, tiny_gguf: Path, tmp_path: Path) -> None:
    name = f"{registry.host}/chunked/tiny:v1"
    source = packaged_store(tmp_path / "source", tiny_gguf, name)
    model = source.find(name)
    blobs = [Blob(d, source.blob_path(d).stat().st_size, "") for d in model.blob_digests]
    events: list[dict] = []

    async def upload() -> None:
        async with RegistryClient(Settings(), parse_reference(name), push=True) as client:
            pusher = Pusher(source, client, mount_sources=[], chunk_bytes=100_000)
            await pusher.push(source.manifest_path(model.id).read_bytes(), blobs, model.manifest["mediaType"],
                              events.append)

    asyncio.run(upload())
    gguf_size = model.layers_of(media_types.GGUF)[0]["size"]
    chunk_reports = [e for e in events if e.get("layer", {}).get("size") == gguf_size]
    assert len(chunk_reports) > gguf_size // 100_000
    target = distribution_on(tmp_path / "target")
    assert pull(target, name)[-1]["type"] == "success"
    assert target.store.find(name).id == model.id


def test_a_mirror_serves_docker_hub_names(registry: RegistryProcess, tiny_gguf: Path, tmp_path: Path) -> None:
    source = packaged_store(tmp_path / "source", tiny_gguf, f"{registry.host}/ai/mirrored:v1")
    push(distribution_on(source.root), f"{registry.host}/ai/mirrored:v1")
    target = distribution_on(tmp_path / "target", registry_mirrors={"docker.io": (registry.url,)})
    assert pull(target, "mirrored:v1")[-1]["type"] == "success"
    assert target.store.find("ai/mirrored:v1").tags == ("docker.io/ai/mirrored:v1",)
