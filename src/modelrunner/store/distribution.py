"""The model distribution service the management routes call: pull (OCI registries and Hugging
Face), push, tag, remove and package. One instance per server process; it owns the single-flight
table that makes concurrent pulls of one blob download it once."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from modelrunner.core.errors import InsufficientStorage, InvalidRequest
from modelrunner.core.gguf_shards import gguf_shards
from modelrunner.core.references import ModelReference, model_id_from, parse_reference
from modelrunner.settings import Settings
from modelrunner.store import media_types
from modelrunner.store.disk_space import free_bytes
from modelrunner.store.huggingface import HuggingFacePull
from modelrunner.store.local_files import allowed_file
from modelrunner.store.models import StoredModel
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.progress import EmitEvent, Event, events_of, success_event
from modelrunner.store.registry.client import RegistryClient, registry_ssl_context
from modelrunner.store.registry.manifests import RemoteModel, check_manifest
from modelrunner.store.registry.pull import Puller, PullProgress
from modelrunner.store.registry.push import Pusher
from modelrunner.store.single_flight import SingleFlight
from modelrunner.store.store import ModelStore

@dataclass(frozen=True)
class RegistryPull:
    """A pull whose manifest is fetched and checked; `run` downloads what is missing."""

    distribution: Distribution
    client: RegistryClient
    remote: RemoteModel
    keep_partial: bool | None = None

    async def run(self, emit: EmitEvent) -> Event:
        store, remote = self.distribution.store, self.remote
        tags = [remote.reference]
        if await asyncio.to_thread(self._is_complete):
            model = await asyncio.to_thread(store.add_model, remote.manifest_bytes, tags)
            return success_event(f"Model {remote.reference.display} is up to date: nothing to download", id=model.id)
        await asyncio.to_thread(store.ensure_layout)
        settings = self.distribution.settings
        puller = Puller(store, self.client, self.distribution.blob_flights,
                        concurrency=settings.pull_concurrency, max_attempts=settings.registry_max_attempts,
                        keep_partial=self.keep_partial)
        await puller.download(remote, PullProgress(remote.total_bytes, emit))
        model = await asyncio.to_thread(store.add_model, remote.manifest_bytes, tags)
        return success_event("Model pulled successfully", id=model.id)

    def _is_complete(self) -> bool:
        store = self.distribution.store
        return store.manifest_path(self.remote.model_id).exists() and all(
            store.has_blob(blob.digest) for blob in self.remote.blobs)

    def check_space(self) -> None:
        """Refuse (507) before any byte moves when the missing blobs cannot fit on the disk."""
        store = self.distribution.store
        needed = 0
        for blob in self.remote.blobs:
            if not store.has_blob(blob.digest):
                partial = store.incomplete_blob_path(blob.digest)
                needed += blob.size - (partial.stat().st_size if partial.exists() else 0)
        free = free_bytes(store.root)
        if needed > free:
            raise InsufficientStorage(needed, free, f"{self.remote.reference.display} was not pulled")


@dataclass(frozen=True)
class PackageRequest:
    gguf_path: Path
    target: str
    license_paths: tuple[Path, ...] = ()
    chat_template_path: Path | None = None
    mmproj_path: Path | None = None
    context_size: int | None = None
    # Every shard, when the caller names them (uploaded blobs); otherwise found beside `gguf_path`.
    gguf_shard_paths: tuple[Path, ...] = ()
    # Set for HTTP callers: shards found beside `gguf_path` must be inside these directories too.
    allowed_dirs: tuple[Path, ...] | None = None
    file_names: dict[Path, str] = field(default_factory=dict)


class Distribution:
    def __init__(self, settings: Settings, store: ModelStore) -> None:
        self.settings = settings
        self.store = store
        self.blob_flights: SingleFlight[None] = SingleFlight()
        self._ssl_context: ssl.SSLContext | None = None

    async def _client(self, reference: ModelReference, *, push: bool = False) -> RegistryClient:
        if self._ssl_context is None:
            self._ssl_context = await asyncio.to_thread(registry_ssl_context, self.settings)
        return RegistryClient(self.settings, reference, push=push, ssl_context=self._ssl_context)

    async def pull(self, name: str, *, keep_partial: bool | None = None) -> AsyncIterator[Event]:
        """Resolve `name` at its registry now (so a bad name, a missing model, a refused login, an
        unsupported artifact or a disk too small fail before any byte moves), then return the pull's
        event stream. `keep_partial`: see Puller."""
        reference = parse_reference(name)
        if reference.is_hugging_face:
            hf_pull = await HuggingFacePull.prepare(self.settings, self.store, name, reference)
            return events_of(hf_pull.run)
        client = await self._client(reference)
        try:
            raw, content_type = await client.get_manifest(reference.digest or reference.tag)
            remote = check_manifest(reference, raw, content_type)
            registry_pull = RegistryPull(self, client, remote, keep_partial)
            await asyncio.to_thread(registry_pull.check_space)
        except BaseException:
            await client.aclose()
            raise
        return self._closing(client, events_of(registry_pull.run))

    @staticmethod
    async def _closing(client: RegistryClient, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()  # type: ignore[attr-defined]
            await client.aclose()

    async def push(self, name: str) -> AsyncIterator[Event]:
        """Push a stored model to the registry its tag names; returns the push's event stream."""
        model = await asyncio.to_thread(self.store.find, name)
        reference = self._push_target(name, model)
        manifest_bytes = await asyncio.to_thread(self.store.manifest_path(model.id).read_bytes)
        manifest = model.manifest
        blobs = RemoteModel(reference, manifest_bytes, manifest).blobs
        sources = sorted({parse_reference(t).repository for t in model.tags
                          if parse_reference(t).registry == reference.registry
                          and parse_reference(t).repository != reference.repository})
        client = await self._client(reference, push=True)
        pusher = Pusher(self.store, client, mount_sources=sources)
        media_type = manifest.get("mediaType") or media_types.OCI_MANIFEST

        async def run(emit: EmitEvent) -> Event:
            await pusher.push(manifest_bytes, blobs, media_type, emit)
            return success_event(f"Model pushed successfully to {reference.display}", id=model.id)

        return self._closing(client, events_of(run))

    @staticmethod
    def _push_target(name: str, model: StoredModel) -> ModelReference:
        if model_id_from(name) is None:
            reference = parse_reference(name)
            if reference.digest:
                raise InvalidRequest("push a tag, not a digest")
            if reference.canonical in model.tags:
                return reference
        if len(model.tags) == 1:
            return parse_reference(model.tags[0])
        raise InvalidRequest(f"model {model.short_id} has several tags ({', '.join(model.tags)}); name the one to push")

    async def tag(self, name: str, repository: str, tag: str | None) -> StoredModel:
        target = parse_reference(f"{repository}:{tag}" if tag else repository)
        if target.digest:
            raise InvalidRequest("a tag cannot be a digest")
        return await asyncio.to_thread(self.store.tag, name, target)

    async def remove(self, name: str, *, force: bool) -> list[str]:
        return await asyncio.to_thread(self.store.remove, name, force=force)

    async def package(self, request: PackageRequest) -> StoredModel:
        """Package local files (paths on the runner's machine) as `request.target`."""
        target = parse_reference(request.target)
        if target.digest:
            raise InvalidRequest("a package target is a tag, not a digest")
        shards = list(request.gguf_shard_paths)
        if not shards:
            shards = await asyncio.to_thread(gguf_shards, request.gguf_path)
            if request.allowed_dirs is not None:  # shards found beside an HTTP caller's path obey its rules too
                allowed = request.allowed_dirs
                shards = [await asyncio.to_thread(allowed_file, str(shard), allowed) for shard in shards]
        spec = PackageSpec(gguf_paths=shards, license_paths=list(request.license_paths),
                           chat_template_path=request.chat_template_path, mmproj_path=request.mmproj_path,
                           context_size=request.context_size, file_names=dict(request.file_names))
        return await asyncio.to_thread(package_gguf, self.store, spec, [target])
