"""The content-addressed model store, in Docker Model Runner's on-disk layout.

Blocking by design (file I/O and hashing): async callers run these methods in a thread. Every index
change holds one cross-process lock and replaces `models.json` atomically, so a crash leaves the old
index or the new one, never a torn one; a manifest is written only after all its blobs exist.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any

import orjson

from modelrunner.core.errors import (
    Conflict,
    InsufficientStorage,
    InvalidRequest,
    ModelNotFound,
    StoreError,
    UnsupportedArtifact,
)
from modelrunner.core.references import ModelReference, model_id_from, parse_reference
from modelrunner.store import media_types
from modelrunner.store.files import link_or_copy, sha256_of_file, write_atomically
from modelrunner.store.locking import InterProcessLock
from modelrunner.store.models import Bundle, StoredModel, layer_filename

logger = logging.getLogger(__name__)

LAYOUT_VERSION = {"version": "1.0.0"}
STALE_PARTIAL_AGE_S = 7 * 24 * 3600
# What survives of an index entry in a damaged models.json (it is written with this key order).
_SALVAGEABLE_ENTRY = re.compile(rb'"id"\s*:\s*"(sha256:[0-9a-f]{64})"\s*,\s*"tags"\s*:\s*\[([^\]]*)\]')


class _CorruptIndex(Exception):
    """models.json cannot be read as an index; it is set aside and rebuilt under the lock."""


def _hex_of(digest: str) -> str:
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or len(hex_digest) != 64 or any(c not in "0123456789abcdef" for c in hex_digest):
        raise InvalidRequest(f"unsupported digest {digest!r}")
    return hex_digest


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._index_cache: tuple[tuple[int, int, int], list[dict[str, Any]]] | None = None
        self._documents_cache: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._lock = InterProcessLock(root / ".modelrunner.lock")

    @property
    def index_path(self) -> Path:
        return self.root / "models.json"

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / _hex_of(digest)

    def incomplete_blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / f"{_hex_of(digest)}.incomplete"

    def manifest_path(self, digest: str) -> Path:
        return self.root / "manifests" / "sha256" / _hex_of(digest)

    def bundle_root(self, digest: str) -> Path:
        return self.root / "bundles" / "sha256" / _hex_of(digest)

    def ensure_layout(self) -> None:
        for folder in ("blobs/sha256", "manifests/sha256", "bundles/sha256"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        layout = self.root / "layout.json"
        if not layout.exists():
            write_atomically(layout, orjson.dumps(LAYOUT_VERSION))
        if not self.index_path.exists():
            with self._lock:
                if not self.index_path.exists():
                    write_atomically(self.index_path, orjson.dumps({"models": []}))

    def remove_stale_partials(self, max_age_s: float = STALE_PARTIAL_AGE_S) -> int:
        """Delete `.incomplete` downloads nobody touched for `max_age_s` (a week by default)."""
        cutoff = time.time() - max_age_s
        removed = 0
        for partial in (self.root / "blobs" / "sha256").glob("*.incomplete"):
            try:
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    # -- index ---------------------------------------------------------------------------------

    def _read_index(self) -> list[dict[str, Any]]:
        """The index as it is on disk; the caller holds the lock (a damaged index is rebuilt here)."""
        try:
            return self._parsed_index()
        except _CorruptIndex as exc:
            return self._rebuild_index(str(exc))

    def _parsed_index(self) -> list[dict[str, Any]]:
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _CorruptIndex(f"not valid JSON: {exc}") from None
        entries = document.get("models") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("id"), str) and isinstance(e.get("tags", []), list)
                for e in entries):
            raise _CorruptIndex("not an index of models")
        return entries

    def _rebuild_index(self, reason: str) -> list[dict[str, Any]]:
        """Set a damaged models.json aside (renamed with a timestamp) and rebuild it from the manifests
        on disk, keeping the tags that can still be read from the damaged copy. Holds the lock."""
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            raw = b""
        try:
            return self._parsed_index()  # another runner rebuilt it meanwhile
        except _CorruptIndex:
            pass
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self.index_path.with_name(f"models.json.corrupt-{stamp}")
        self.index_path.replace(aside)
        salvaged: dict[str, list[str]] = {}
        for match in _SALVAGEABLE_ENTRY.finditer(raw):
            tags = re.findall(rb'"([^"\\]+)"', match.group(2))
            salvaged[match.group(1).decode()] = [t.decode() for t in tags]
        entries = []
        for manifest_path in sorted((self.root / "manifests" / "sha256").glob("*")):
            if manifest_path.name.startswith(".") or len(manifest_path.name) != 64:
                continue
            try:
                manifest = orjson.loads(manifest_path.read_bytes())
                files = [manifest["config"]["digest"], *(layer["digest"] for layer in manifest.get("layers", []))]
            except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
                logger.warning("not rebuilding damaged manifest %s: %s", manifest_path.name, exc)
                continue
            model_id = "sha256:" + manifest_path.name
            entries.append({"id": model_id, "tags": salvaged.get(model_id, []), "files": files})
        self._write_index(entries)
        logger.warning("%s was damaged (%s): set aside as %s and rebuilt from %d manifests on disk, %d with "
                       "their tags", self.index_path, reason, aside.name, len(entries),
                       sum(1 for e in entries if e["tags"]))
        return entries

    def _write_index(self, entries: list[dict[str, Any]]) -> None:
        write_atomically(self.index_path, orjson.dumps({"models": entries}, option=orjson.OPT_INDENT_2))

    def _index_for_lookup(self) -> list[dict[str, Any]]:
        """The index for read-only use, re-read only when the file changed (writes replace it, so a
        new inode or mtime marks every change). Lookups happen on every request."""
        try:
            stat = self.index_path.stat()
        except FileNotFoundError:
            return []
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = self._index_cache
        if cached is None or cached[0] != key:
            try:
                cached = (key, self._parsed_index())
            except _CorruptIndex:
                with self._lock:
                    return self._read_index()
            self._index_cache = cached
        return cached[1]

    def _documents(self, model_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A model's manifest and config; both are content-addressed, so never stale once read."""
        documents = self._documents_cache.get(model_id)
        if documents is None:
            manifest = orjson.loads(self.manifest_path(model_id).read_bytes())
            config_document = orjson.loads(self.blob_path(manifest["config"]["digest"]).read_bytes())
            if not isinstance(config_document, dict):
                raise TypeError("the config blob is not a JSON object")
            documents = self._documents_cache[model_id] = (manifest, config_document)
        return documents

    def _load(self, entry: dict[str, Any], name: str | None = None) -> StoredModel:
        """The model an index entry names; one deleted meanwhile (by another runner) is not found."""
        try:
            manifest, config_document = self._documents(entry["id"])
        except FileNotFoundError:
            raise ModelNotFound(name or entry["id"]) from None
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            label = name or (entry.get("tags") or [entry["id"]])[0]
            raise StoreError(f"model {label} ({entry['id'][7:19]}) is damaged: its manifest or config blob "
                             f"cannot be read ({exc}); `modelrunner verify` checks its files, then remove it "
                             "and pull it again") from None
        return StoredModel(
            id=entry["id"],
            tags=tuple(entry.get("tags") or ()),
            manifest=manifest,
            config_document=config_document,
        )

    def list_models(self) -> list[StoredModel]:
        models = []
        for entry in self._index_for_lookup():
            try:
                models.append(self._load(entry))
            except (ModelNotFound, StoreError) as exc:
                logger.warning("skipping damaged store entry %s: %s", entry.get("id"), exc)
        return models

    def find(self, name: str) -> StoredModel:
        """Resolve a user's name for a model: a tag, a model ID, or an unambiguous last path segment."""
        entries = self._index_for_lookup()
        hex_id = model_id_from(name)
        if hex_id is not None:
            matches = [e for e in entries if e["id"].removeprefix("sha256:").startswith(hex_id)]
            if len(matches) == 1:
                return self._load(matches[0], name)
        reference = parse_reference(name)
        for entry in entries:
            if reference.canonical in (entry.get("tags") or ()):
                return self._load(entry, name)
        if "/" not in name.strip() and ":" not in name.strip():
            matches = [
                e for e in entries
                if any(parse_reference(tag).short_name == reference.short_name and
                       parse_reference(tag).tag == reference.tag for tag in e.get("tags") or ())
            ]
            if len(matches) == 1:
                return self._load(matches[0], name)
        raise ModelNotFound(name)

    # -- writing -------------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def put_blob_bytes(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            write_atomically(path, data)
        return digest

    def put_blob_file(self, source: Path) -> tuple[str, int]:
        """Add a local file as a blob (hard link when possible). Returns (digest, size_bytes)."""
        digest = "sha256:" + sha256_of_file(source)
        path = self.blob_path(digest)
        if not path.exists():
            link_or_copy(source, path)
        return digest, source.stat().st_size

    def commit_blob(self, partial: Path, digest: str, *, verified: bool = False) -> None:
        """Move a fully downloaded file into place after checking its digest (`verified` when the
        caller hashed it while writing)."""
        actual = digest if verified else "sha256:" + sha256_of_file(partial)
        if actual != digest:
            partial.unlink(missing_ok=True)
            raise StoreError(f"blob digest mismatch: expected {digest}, got {actual}")
        partial.replace(self.blob_path(digest))

    def _restore_blob(self, digest: str, source: Path | bytes) -> None:
        """Put back a blob a concurrent delete removed between its write and the manifest's (rare)."""
        if isinstance(source, bytes):
            if self.put_blob_bytes(source) != digest:
                raise StoreError(f"blob {digest} changed while it was being added")
            return
        link_or_copy(source, self.blob_path(digest))
        if "sha256:" + sha256_of_file(self.blob_path(digest)) != digest:
            self.blob_path(digest).unlink(missing_ok=True)
            raise StoreError(f"{source.name} changed while it was being added to the store")

    def add_model(self, manifest_bytes: bytes, tags: list[ModelReference],
                  sources: dict[str, Path | bytes] | None = None) -> StoredModel:
        """Record a manifest whose blobs are all present, and point `tags` at it (moving them from
        any model that had them). `sources` (digest -> file or bytes) restore a blob that another
        writer's delete removed after it was written: the check and the index change are one step."""
        manifest = orjson.loads(manifest_bytes)
        config = manifest.get("config") or {}
        if config.get("mediaType") not in media_types.READABLE_CONFIGS:
            raise UnsupportedArtifact(
                f"unsupported model artifact: config media type {config.get('mediaType')!r} is not one of "
                f"{', '.join(sorted(media_types.READABLE_CONFIGS))}"
            )
        model_id = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        with self._lock:
            missing = [d for d in [config["digest"], *(l["digest"] for l in manifest.get("layers", []))]
                       if not self.has_blob(d)]
            for digest in [d for d in missing if d in (sources or {})]:
                self._restore_blob(digest, (sources or {})[digest])
            missing = [d for d in missing if not self.has_blob(d)]
            if missing:
                raise StoreError(f"cannot add model: blobs missing from the store: {', '.join(missing)}")
            manifest_path = self.manifest_path(model_id)
            if not manifest_path.exists():
                write_atomically(manifest_path, manifest_bytes)
            entries = self._read_index()
            canonical_tags = [t.canonical for t in tags]
            orphaned: list[dict[str, Any]] = []
            for entry in entries:
                if entry["id"] != model_id:
                    before = len(entry.get("tags") or [])
                    entry["tags"] = [t for t in entry.get("tags") or [] if t not in canonical_tags]
                    if before and not entry["tags"]:
                        orphaned.append(entry)
            entry = next((e for e in entries if e["id"] == model_id), None)
            files = [config["digest"], *(l["digest"] for l in manifest.get("layers", []))]
            if entry is None:
                entry = {"id": model_id, "tags": [], "files": files}
                entries.append(entry)
            for tag in canonical_tags:
                if tag not in entry["tags"]:
                    entry["tags"].append(tag)
            remaining = [e for e in entries if e not in orphaned]
            self._write_index(remaining)
            for gone in orphaned:
                self._delete_unreferenced(gone, remaining)
        return self._load(entry)

    def tag(self, name: str, target: ModelReference) -> StoredModel:
        model = self.find(name)
        try:
            manifest_bytes = self.manifest_path(model.id).read_bytes()
        except FileNotFoundError:
            raise ModelNotFound(name) from None  # deleted by another runner since it was found
        try:
            return self.add_model(manifest_bytes, [target])
        except StoreError:
            if not any(entry["id"] == model.id for entry in self._read_index()):
                raise ModelNotFound(name) from None  # its blobs went with a concurrent delete
            raise

    def remove(self, name: str, *, force: bool = False) -> list[str]:
        """Untag `name`; removing the last tag (or a model ID) removes the model. Returns what was
        untagged or deleted, in Docker's wording."""
        with self._lock:
            model = self.find(name)  # under the lock: what another writer did before us is seen
            by_id = model_id_from(name) is not None and not any(
                parse_reference(name).canonical == t for t in model.tags
            )
            entries = self._read_index()
            entry = next((e for e in entries if e["id"] == model.id), None)
            if entry is None:
                raise ModelNotFound(name)
            if by_id or len(entry["tags"]) <= 1:
                if by_id and len(entry["tags"]) > 1 and not force:
                    raise Conflict(
                        f"model {model.short_id} has several tags ({', '.join(entry['tags'])}); "
                        "remove them one by one or force the removal"
                    )
                remaining = [e for e in entries if e["id"] != model.id]
                self._write_index(remaining)
                self._delete_unreferenced(entry, remaining)
                return [f"Untagged: {t}" for t in entry["tags"]] + [f"Deleted: {model.id}"]
            canonical = parse_reference(name).canonical
            if canonical not in entry["tags"]:
                canonical = next((t for t in entry["tags"]
                                  if parse_reference(t).short_name == parse_reference(name).short_name), None)
                if canonical is None:
                    raise ModelNotFound(name)
            entry["tags"].remove(canonical)
            self._write_index(entries)
            return [f"Untagged: {canonical}"]

    def _delete_unreferenced(self, entry: dict[str, Any], remaining: list[dict[str, Any]]) -> None:
        still_used = {digest for other in remaining for digest in other.get("files") or ()}
        for digest in entry.get("files") or ():
            if digest not in still_used:
                self.blob_path(digest).unlink(missing_ok=True)
        self.manifest_path(entry["id"]).unlink(missing_ok=True)
        shutil.rmtree(self.bundle_root(entry["id"]), ignore_errors=True)

    # -- bundles -------------------------------------------------------------------------------

    def ensure_bundle(self, model: StoredModel) -> Bundle:
        """Lay the model out as plain files an engine opens by path (hard links into the blobs)."""
        root = self.bundle_root(model.id)
        ggufs = model.layers_of(media_types.GGUF)
        if not ggufs:
            raise InvalidRequest(f"model {model.short_id} has no GGUF layer; no engine can run it without one")
        if len(ggufs) == 1:
            gguf_names = ["model.gguf"]
        else:
            gguf_names = [
                layer_filename(layer, f"model-{i + 1:05d}-of-{len(ggufs):05d}.gguf")
                for i, layer in enumerate(ggufs)
            ]
        mmproj = model.layers_of(media_types.MMPROJ)
        template = model.layers_of(media_types.CHAT_TEMPLATE)
        wanted: list[tuple[dict[str, Any], str]] = list(zip(ggufs, gguf_names))
        if mmproj:
            wanted.append((mmproj[0], "model.mmproj"))
        if template:
            wanted.append((template[0], "template.jinja"))
        for layer, filename in wanted:
            target = root / "model" / filename
            if not target.exists():
                source = self.blob_path(layer["digest"])
                if not source.exists():
                    raise StoreError(f"model {model.short_id} is incomplete: blob {layer['digest']} is missing")
                link_or_copy(source, target)
        config_path = root / "config.json"
        if not config_path.exists():
            try:  # Docker's bundle layout has it; nothing here reads it, so a full disk must not stop a load
                write_atomically(config_path, orjson.dumps(model.config_document))
            except InsufficientStorage as exc:
                logger.warning("bundle of %s without config.json: %s", model.short_id, exc.message)
        return Bundle(
            root=root,
            gguf_path=root / "model" / gguf_names[0],
            mmproj_path=root / "model" / "model.mmproj" if mmproj else None,
            chat_template_path=root / "model" / "template.jinja" if template else None,
            model=model,
        )

