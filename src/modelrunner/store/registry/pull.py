"""Pulling a model: blobs fetched in parallel into `<hex>.incomplete`, resumed with HTTP Range after
an interruption, verified against their digest, and the manifest recorded last, so a failed pull
never leaves a model that looks complete."""

from __future__ import annotations

import asyncio
import http.client
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from modelrunner.core.errors import ModelRunnerError, RegistryUnavailable, StoreError
from modelrunner.store.disk_space import is_out_of_space, out_of_space
from modelrunner.store.progress import EmitEvent, progress_event
from modelrunner.store.registry.blob_fetch import open_blob
from modelrunner.store.registry.blob_file import DiskWriteFailed, DiskWriter, PartialBlob
from modelrunner.store.registry.client import TRANSIENT_STATUSES, RegistryClient, backoff_s
from modelrunner.store.registry.manifests import Blob, RemoteModel
from modelrunner.store.single_flight import SingleFlight
from modelrunner.store.store import ModelStore

logger = logging.getLogger(__name__)

WRITE_BATCH_BYTES = 256 * 1024
PROGRESS_STEP_BYTES = 4 * 1024 * 1024


@dataclass
class PullProgress:
    """Bytes done per blob, reported as DMR-shaped progress events."""

    total_bytes: int
    emit: EmitEvent
    done_by_blob: dict[str, int] = field(default_factory=dict)

    def update(self, blob: Blob, done_bytes: int) -> None:
        self.done_by_blob[blob.digest] = done_bytes
        self.emit(progress_event("Downloaded", sum(self.done_by_blob.values()), self.total_bytes,
                                 blob.digest, blob.size, done_bytes))


class _InterruptedDownload(Exception):
    """A blob download that stopped early for a reason worth a retry (resumed from where it stopped)."""


class Puller:
    """Downloads the blobs of one RemoteModel into the store."""

    def __init__(self, store: ModelStore, client: RegistryClient, flights: SingleFlight[None], *,
                 concurrency: int, max_attempts: int, keep_partial: bool | None = None) -> None:
        """`keep_partial`: True keeps the `.incomplete` files of a failed pull for a resume, False removes
        them; None (the default) keeps them after a network failure and removes them when the disk is
        full (keeping them would keep it full)."""
        self._keep_partial = keep_partial
        self._store = store
        self._client = client
        self._flights = flights
        self._concurrency = concurrency
        self._max_attempts = max_attempts

    async def download(self, remote: RemoteModel, progress: PullProgress) -> None:
        """Fetch every missing blob, `concurrency` at a time; each blob once per process."""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(blob: Blob) -> None:
            started_here = False

            def download() -> Awaitable[None]:
                nonlocal started_here
                started_here = True
                return self._download_blob(blob, progress)

            async with gate:
                try:
                    await self._flights.run(blob.digest, download)
                except Exception:
                    # The download this pull joined belonged to another pull, on its connection: when
                    # that one failed or went away, try once on ours.
                    if started_here:
                        raise
                    await self._flights.run(blob.digest, lambda: self._download_blob(blob, progress))
                progress.update(blob, blob.size)

        missing = []
        for blob in remote.blobs:
            if await asyncio.to_thread(self._store.has_blob, blob.digest):
                progress.done_by_blob[blob.digest] = blob.size
            else:
                missing.append(blob)
        tasks = [asyncio.ensure_future(one(blob)) for blob in missing]
        try:
            await asyncio.gather(*tasks)
        except Exception as exc:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            error = await self._failed(exc, missing)
            if error is exc:
                raise
            raise error from exc
        finally:
            for task in tasks:
                task.cancel()

    async def _failed(self, exc: Exception, missing: list[Blob]) -> Exception:
        """The error a failed pull answers, after its partial files are kept or removed as asked."""
        full = is_out_of_space(exc)
        remove = self._keep_partial is False or (self._keep_partial is None and full)
        if remove:
            await asyncio.to_thread(self._remove_partials, missing)
        outcome = ("its partial download was removed" if remove
                   else "its partial download was kept: pulling again resumes it")
        if full:
            needed = sum(blob.size for blob in missing)
            return await asyncio.to_thread(out_of_space, self._store.root, needed,
                                           f"the pull of {self._client.reference.display} stopped and {outcome}")
        if isinstance(exc, ModelRunnerError):
            exc.message = f"{exc.message}; {outcome}"
            exc.args = (exc.message,)
        return exc

    def _remove_partials(self, blobs: list[Blob]) -> None:
        for blob in blobs:
            self._store.incomplete_blob_path(blob.digest).unlink(missing_ok=True)

    async def _download_blob(self, blob: Blob, progress: PullProgress) -> None:
        if await asyncio.to_thread(self._store.has_blob, blob.digest):
            return
        partial = PartialBlob(self._store.incomplete_blob_path(blob.digest))
        for attempt in range(self._max_attempts):
            try:
                await self._fetch_into(partial, blob, progress)
                break
            except (OSError, DiskWriteFailed) as exc:
                cause = exc.__cause__ if isinstance(exc, DiskWriteFailed) else exc
                reason = getattr(cause, "strerror", None) or str(cause)
                raise StoreError(f"cannot write blob {blob.digest} into the store: {reason}") from exc
            except (httpx.TransportError, httpx.DecodingError, _InterruptedDownload) as exc:
                if attempt + 1 >= self._max_attempts:
                    raise RegistryUnavailable(
                        f"download of blob {blob.digest} from {self._client.reference.registry} failed after "
                        f"{self._max_attempts} attempts: {exc or type(exc).__name__}"
                    ) from exc
                logger.info("blob %s interrupted (%s); resuming", blob.digest, type(exc).__name__)
                await asyncio.sleep(backoff_s(attempt))
        await asyncio.to_thread(self._commit, partial, blob)

    async def _fetch_into(self, partial: PartialBlob, blob: Blob, progress: PullProgress) -> None:
        offset = await asyncio.to_thread(partial.size_on_disk)
        if offset > blob.size:
            offset = 0
        await asyncio.to_thread(partial.catch_up, offset)
        if offset == blob.size and offset > 0:
            return
        url, headers = await self._client.authorize_blob_download(blob.digest)
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        last_reported = -PROGRESS_STEP_BYTES

        def report(done_bytes: int) -> None:
            nonlocal last_reported
            if done_bytes - last_reported >= PROGRESS_STEP_BYTES or done_bytes == blob.size:
                last_reported = done_bytes
                loop.call_soon_threadsafe(progress.update, blob, done_bytes)

        download = asyncio.ensure_future(
            asyncio.to_thread(self._stream_to_disk, url, headers, partial, blob, offset, report, stop))
        try:
            await asyncio.shield(download)
        finally:
            stop.set()
            # A cancelled pull waits for its thread to stop writing, so that removing a failed pull's
            # partial files never races a write that would recreate one.
            await asyncio.wait([download])
            if not download.cancelled():
                download.exception()  # retrieved here when the shield's waiter was cancelled first

    def _stream_to_disk(self, url: str, headers: dict[str, str], partial: PartialBlob, blob: Blob, offset: int,
                        report: Callable[[int], None], stop: threading.Event) -> None:
        """Fetch the blob from `offset` into its partial file, hashing as it goes. Runs in a thread."""
        if offset:
            headers = {**headers, "Range": f"bytes={offset}-"}
        try:
            with open_blob(url, headers, self._client.ssl_context) as response:
                if response.status in TRANSIENT_STATUSES or response.status == 401:
                    raise _InterruptedDownload(f"HTTP {response.status}")
                if response.status not in (200, 206):
                    raise self._client.status_error(response.status, f"blob {blob.digest}")
                if response.status == 200:
                    offset = 0
                report(offset)
                offset = self._copy_body(response, partial, blob, offset, report, stop)
        except (OSError, http.client.HTTPException) as exc:
            raise _InterruptedDownload(f"{type(exc).__name__}: {exc}") from exc
        report(offset)
        if offset < blob.size:
            raise _InterruptedDownload(f"blob {blob.digest} ended after {offset} of {blob.size} bytes")

    @staticmethod
    def _copy_body(response: http.client.HTTPResponse, partial: PartialBlob, blob: Blob, offset: int,
                   report: Callable[[int], None], stop: threading.Event) -> int:
        """Read the body batch by batch, hashing each while it is hot in the cache, while a writer
        thread puts the previous ones on disk. What arrived before a dropped connection is still
        written, so the resume asks only for the rest. Returns the bytes on disk."""
        received = offset
        try:
            handle = partial.open(offset)
        except OSError as exc:
            raise DiskWriteFailed(str(exc)) from exc
        with handle:
            writer = DiskWriter(handle, report, offset)
            try:
                while not stop.is_set():
                    batch = bytearray(WRITE_BATCH_BYTES)
                    size = response.readinto(batch)
                    if size == 0:
                        break
                    if received + size > blob.size:
                        raise StoreError(f"blob {blob.digest} is larger than the {blob.size} bytes its manifest says")
                    view = memoryview(batch)[:size]
                    partial.hash(view)
                    writer.put(view)
                    received += size
            finally:
                offset = writer.close()
        if stop.is_set():
            raise _InterruptedDownload("the pull was cancelled")
        return offset

    def _commit(self, partial: PartialBlob, blob: Blob) -> None:
        actual = "sha256:" + partial.hasher.hexdigest()
        if actual != blob.digest:
            partial.path.unlink(missing_ok=True)
            raise StoreError(
                f"blob digest mismatch: expected {blob.digest}, the registry served {actual}; the blob was "
                "discarded and the store left unchanged"
            )
        self._store.commit_blob(partial.path, blob.digest, verified=True)
