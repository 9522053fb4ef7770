"""Models as tar files (`GET /models/{name}/export`, `POST /models/load`), in the OCI image layout:
`oci-layout`, `index.json` naming the manifest with one `org.opencontainers.image.ref.name` per tag,
and `blobs/sha256/<hex>` for the manifest, the config and every layer."""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from modelrunner.core.errors import Conflict, InvalidRequest, StoreError
from modelrunner.core.references import ModelReference, parse_reference
from modelrunner.store import media_types
from modelrunner.store.disk_space import is_out_of_space, out_of_space
from modelrunner.store.models import StoredModel
from modelrunner.store.registry.manifests import check_manifest
from modelrunner.store.store import ModelStore

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
READ_BYTES = 1024 * 1024
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # index.json and the manifest are small JSON documents
BLOCK = tarfile.BLOCKSIZE


def _header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def export_chunks(store: ModelStore, model: StoredModel) -> Iterator[bytes]:
    """The model as a tar, chunk by chunk, without building it on disk. Blocking: iterate in a thread."""
    manifest_bytes = store.manifest_path(model.id).read_bytes()
    index = {
        "schemaVersion": 2,
        "mediaType": media_types.OCI_INDEX,
        "manifests": [
            {"mediaType": model.manifest.get("mediaType", media_types.OCI_MANIFEST), "digest": model.id,
             "size": len(manifest_bytes), "annotations": {REF_NAME_ANNOTATION: tag}}
            for tag in model.tags
        ],
    }
    mtime = model.created
    small = [("oci-layout", OCI_LAYOUT), ("index.json", orjson.dumps(index)),
             (f"blobs/sha256/{model.hex_id}", manifest_bytes)]
    for name, data in small:
        yield _header(name, len(data), mtime) + data + _padding(len(data))
    for digest in dict.fromkeys(model.blob_digests):
        path = store.blob_path(digest)
        size = path.stat().st_size
        yield _header(f"blobs/sha256/{digest.removeprefix('sha256:')}", size, mtime)
        with path.open("rb") as handle:
            while chunk := handle.read(READ_BYTES):
                yield chunk
        yield _padding(size)
    yield b"\0" * (2 * BLOCK)


def _read_index(archive: tarfile.TarFile) -> list[dict[str, Any]]:
    try:
        member = archive.getmember("index.json")
    except KeyError:
        raise InvalidRequest("not a model archive: index.json is missing (expected an OCI image layout tar)") from None
    handle = archive.extractfile(member) if member.size <= MAX_DOCUMENT_BYTES else None
    if handle is None:
        raise InvalidRequest("not a model archive: index.json is not a small regular file")
    try:
        index = orjson.loads(handle.read())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"not a model archive: index.json is not JSON ({exc})") from None
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not manifests:
        raise InvalidRequest("not a model archive: index.json lists no manifest")
    return manifests


def _copy_verified(handle: IO[bytes], target: Path, digest: str, size: int) -> None:
    """Copy one blob, refusing it as soon as it outgrows its descriptor's size, and keep it only if its
    bytes match its digest."""
    hasher = hashlib.sha256()
    written = 0
    try:
        with target.open("wb") as out:
            while chunk := handle.read(READ_BYTES):
                written += len(chunk)
                if written > size:
                    break
                hasher.update(chunk)
                out.write(chunk)
    except OSError as exc:
        target.unlink(missing_ok=True)
        if is_out_of_space(exc):
            raise out_of_space(target.parent, size, "nothing was imported") from exc
        raise
    if written != size:
        target.unlink(missing_ok=True)
        raise InvalidRequest(f"archive blob {digest} is not the {size} bytes its descriptor says; nothing was imported")
    if "sha256:" + hasher.hexdigest() != digest:
        target.unlink(missing_ok=True)
        raise InvalidRequest(f"archive blob {digest} does not match its digest; nothing was imported")


def _member_bytes(archive: tarfile.TarFile, name: str) -> bytes | None:
    try:
        member = archive.getmember(name)
    except KeyError:
        return None
    if member.size > MAX_DOCUMENT_BYTES:
        raise InvalidRequest(f"not a model archive: {name} is larger than a manifest can be")
    handle = archive.extractfile(member)
    return handle.read() if handle is not None else None


def _blob_member(archive: tarfile.TarFile, digest: str, size: int) -> IO[bytes]:
    """A blob's bytes in the archive: a plain regular member exactly as large as its descriptor says."""
    try:
        member = archive.getmember(f"blobs/sha256/{digest[7:]}")
    except KeyError:
        raise InvalidRequest(f"not a model archive: blob {digest} is missing from it") from None
    if not member.isreg() or member.issparse():
        raise InvalidRequest(f"not a model archive: blob {digest} is not a regular file")
    if member.size != size:
        raise InvalidRequest(
            f"not a model archive: blob {digest} holds {member.size} bytes, its descriptor says {size}")
    handle = archive.extractfile(member)
    if handle is None:
        raise InvalidRequest(f"not a model archive: blob {digest} cannot be read")
    return handle


def _refuse_replacing(store: ModelStore, tags: list[ModelReference], model_id: str) -> None:
    """An archive may add a tag, never silently move one that names another model."""
    for model in store.list_models():
        taken = [parse_reference(t).display for t in model.tags if model.id != model_id
                 and t in {tag.canonical for tag in tags}]
        if taken:
            raise Conflict(f"{', '.join(taken)} already names model {model.short_id}; load with ?replace=true "
                           "to point it at the archive's model")


def load_archive(store: ModelStore, archive_path: Path, tag_override: ModelReference | None = None, *,
                 replace: bool = False) -> StoredModel:
    """Import an exported or packaged tar (uncompressed: what it holds is never larger than it is). The
    manifest is checked first, every blob is bounded by its descriptor and verified before it is visible,
    and the model is recorded last. Blocking."""
    store.ensure_layout()
    try:
        archive = tarfile.open(archive_path, mode="r:")
    except tarfile.TarError as exc:
        raise InvalidRequest(f"not a model archive: {exc}") from None
    with archive:
        descriptors = _read_index(archive)
        manifest_digest = descriptors[0].get("digest")
        if not isinstance(manifest_digest, str) or not _DIGEST.match(manifest_digest):
            raise InvalidRequest(f"not a model archive: invalid manifest digest {manifest_digest!r}")
        names = [d.get("annotations", {}).get(REF_NAME_ANNOTATION) for d in descriptors
                 if d.get("digest") == manifest_digest]
        tags = [tag_override] if tag_override else [parse_reference(n) for n in names if isinstance(n, str) and n]
        if not tags:
            raise InvalidRequest("the archive names no tag for its model; give one with ?tag=")
        manifest_bytes = _member_bytes(archive, f"blobs/sha256/{manifest_digest[7:]}")
        if manifest_bytes is None:
            raise InvalidRequest(f"not a model archive: manifest {manifest_digest} is missing from it")
        if "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() != manifest_digest:
            raise StoreError("archive manifest does not match its digest; nothing was imported")
        remote = check_manifest(tags[0], manifest_bytes, media_types.OCI_MANIFEST)
        if not replace:
            _refuse_replacing(store, tags, manifest_digest)
        added: list[str] = []
        try:
            for blob in remote.blobs:
                if store.has_blob(blob.digest):
                    continue
                handle = _blob_member(archive, blob.digest, blob.size)
                partial = store.incomplete_blob_path(blob.digest)
                _copy_verified(handle, partial, blob.digest, blob.size)
                store.commit_blob(partial, blob.digest, verified=True)
                added.append(blob.digest)
            return store.add_model(manifest_bytes, tags)
        except BaseException:
            for digest in added:  # the store is left as it was: no blob without its manifest
                store.blob_path(digest).unlink(missing_ok=True)
            raise
