"""Pushing a model: each blob the registry lacks is mounted from another repository of the same
registry when possible, else uploaded (in one request when small, in chunks when large); the
manifest goes last, byte for byte as stored, so the model keeps its ID."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from modelrunner.core.errors import ModelRunnerError
from modelrunner.store.progress import EmitEvent, message_event, progress_event
from modelrunner.store.registry.client import RegistryClient
from modelrunner.store.registry.manifests import Blob
from modelrunner.store.store import ModelStore

UPLOAD_CHUNK_BYTES = 32 * 1024 * 1024


def _read_chunk(path: Path, start: int, size: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(size)


class Pusher:
    def __init__(self, store: ModelStore, client: RegistryClient, *, mount_sources: list[str],
                 chunk_bytes: int = UPLOAD_CHUNK_BYTES) -> None:
        self._store = store
        self._client = client
        self._mount_sources = mount_sources
        self._chunk_bytes = chunk_bytes

    async def push(self, manifest_bytes: bytes, blobs: list[Blob], media_type: str, emit: EmitEvent) -> None:
        await self._client.use_first_reachable()
        total = sum(blob.size for blob in blobs)
        done = 0
        for blob in blobs:
            await self._push_blob(blob, emit, lambda current, base=done: emit(
                progress_event("Uploaded", base + current, total, blob.digest, blob.size, current)))
            done += blob.size
            emit(progress_event("Uploaded", done, total, blob.digest, blob.size, blob.size))
        await self._client.put_manifest(self._client.reference.tag, manifest_bytes, media_type)

    async def _push_blob(self, blob: Blob, emit: EmitEvent, report: Callable[[int], None]) -> None:
        if await self._client.has_blob(blob.digest):
            emit(message_event(f"Blob {blob.digest[:19]} already exists"))
            return
        location: str | None = None
        for source in self._mount_sources:
            try:
                location = await self._client.start_upload(mount=blob.digest, from_repository=source)
            except ModelRunnerError:
                continue
            if location is None:
                emit(message_event(f"Mounted {blob.digest[:19]} from {source}"))
                return
            break
        if location is None:
            location = await self._client.start_upload()
        path = self._store.blob_path(blob.digest)
        if blob.size <= self._chunk_bytes:
            data = await asyncio.to_thread(path.read_bytes)
            await self._client.finish_upload(location, blob.digest, data)
            return
        sent = 0
        while sent < blob.size:
            chunk = await asyncio.to_thread(_read_chunk, path, sent, self._chunk_bytes)
            if not chunk:
                break
            location = await self._client.upload_chunk(location, chunk, sent)
            sent += len(chunk)
            report(sent)
        await self._client.finish_upload(location, blob.digest)
