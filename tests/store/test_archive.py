"""Export and load: a model survives the tar round trip with its ID; a damaged or foreign tar is refused
with the store unchanged."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from modelrunner.core.errors import InvalidRequest, UnsupportedArtifact
from modelrunner.core.references import parse_reference
from modelrunner.store.archive import export_chunks, load_archive
from modelrunner.store.store import ModelStore
from tests.support.distribution import packaged_store


def _export(store: ModelStore, name: str, path: Path) -> Path:
    path.write_bytes(b"".join(export_chunks(store, store.find(name))))
    return path


def test_round_trip_keeps_id_and_tags(tiny_gguf: Path, tmp_path: Path) -> None:
    source = packaged_store(tmp_path / "source", tiny_gguf, "me/tiny:v1")
    source.tag("me/tiny:v1", parse_reference("me/tiny:v2"))
    archive = _export(source, "me/tiny:v1", tmp_path / "tiny.tar")
    with tarfile.open(archive) as tar:
        assert {"oci-layout", "index.json"} <= set(tar.getnames())

    target = ModelStore(tmp_path / "target")
    loaded = load_archive(target, archive)
    assert loaded.id == source.find("me/tiny:v1").id
    assert set(loaded.tags) == {"docker.io/me/tiny:v1", "docker.io/me/tiny:v2"}
    renamed = load_archive(ModelStore(tmp_path / "renamed"), archive, parse_reference("other/name:x"))
    assert renamed.tags == ("docker.io/other/name:x",)


def _rewrite(archive: Path, out: Path, change: dict[str, bytes], rename: dict[str, str] | None = None) -> Path:
    """A copy of `archive` with some members' bytes replaced and some renamed."""
    with tarfile.open(archive) as tar, tarfile.open(out, "w") as new:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            data = change.get(member.name, data)
            member.name = (rename or {}).get(member.name, member.name)
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    return out


def test_a_tampered_blob_is_refused_and_nothing_imported(tiny_gguf: Path, tmp_path: Path) -> None:
    source = packaged_store(tmp_path / "source", tiny_gguf, "me/tiny:v1")
    model = source.find("me/tiny:v1")
    archive = _export(source, "me/tiny:v1", tmp_path / "tiny.tar")
    gguf_digest = model.manifest["layers"][0]["digest"]
    member = f"blobs/sha256/{gguf_digest.removeprefix('sha256:')}"
    original = source.blob_path(gguf_digest).read_bytes()
    tampered = _rewrite(archive, tmp_path / "tampered.tar", {member: original[:-1] + bytes([original[-1] ^ 1])})

    target = ModelStore(tmp_path / "target")
    with pytest.raises(InvalidRequest, match="does not match its digest"):
        load_archive(target, tampered)
    assert target.list_models() == []
    assert not target.has_blob(gguf_digest)


def test_foreign_tars_are_refused(tiny_gguf: Path, tmp_path: Path) -> None:
    not_tar = tmp_path / "x.tar"
    not_tar.write_bytes(b"hello")
    with pytest.raises(InvalidRequest, match="not a model archive"):
        load_archive(ModelStore(tmp_path / "a"), not_tar)
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(InvalidRequest, match="index.json is missing"):
        load_archive(ModelStore(tmp_path / "b"), empty)

    source = packaged_store(tmp_path / "source", tiny_gguf, "me/tiny:v1")
    model = source.find("me/tiny:v1")
    archive = _export(source, "me/tiny:v1", tmp_path / "tiny.tar")
    manifest_member = f"blobs/sha256/{model.hex_id}"
    image_manifest = source.manifest_path(model.id).read_bytes().replace(
        b"application/vnd.docker.ai.model.config.v0.1+json", b"application/vnd.oci.image.config.v1+json")
    new_hex = hashlib.sha256(image_manifest).hexdigest()
    with tarfile.open(archive) as tar:
        index = tar.extractfile("index.json").read().replace(model.hex_id.encode(), new_hex.encode())  # type: ignore[union-attr]
    image = _rewrite(archive, tmp_path / "image.tar", {"index.json": index, manifest_member: image_manifest},
                     rename={manifest_member: f"blobs/sha256/{new_hex}"})
    target = ModelStore(tmp_path / "target")
    with pytest.raises(UnsupportedArtifact, match="config media type"):
        load_archive(target, image)
    assert target.list_models() == []
    assert not any(target.has_blob(d) for d in model.blob_digests)
