"""One file from the Hugging Face Hub into a partial file that the next attempt, or the next pull,
resumes with HTTP Range. `huggingface_hub` says where the file is (its commit, size and etag); the bytes
come through the same blocking fetch as registry blobs (redirects followed, the token never sent to
another host). huggingface_hub's own download cannot resume a file across calls: it deletes its
partial file when a download fails."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import get_hf_file_metadata, hf_hub_url
from huggingface_hub.utils import build_hf_headers

from modelrunner.core.errors import RegistryUnavailable, StoreError
from modelrunner.store.registry.blob_fetch import open_blob
from modelrunner.store.registry.blob_file import PartialBlob
from modelrunner.store.registry.client import TRANSIENT_STATUSES, backoff_s

READ_BYTES = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class HubFile:
    """Where one repository file's bytes are, pinned to the commit the Hub named."""

    filename: str
    url: str
    token: str | None
    size: int | None
    etag: str

    @property
    def sha256(self) -> str | None:
        """The Hub's etag of a large (LFS) file is its sha256: the bytes are checked against it."""
        return self.etag if _SHA256.match(self.etag) else None

    def partial_name(self) -> str:
        """A name for this version of the file in a partial folder, safe whatever the Hub calls it."""
        return hashlib.sha256(f"{self.filename}\n{self.etag}".encode()).hexdigest()[:24]


def hub_file(repo_id: str, filename: str, *, endpoint: str, token: str | None) -> HubFile:
    """Ask the Hub about `filename` (blocking). Raises what huggingface_hub raises."""
    metadata = get_hf_file_metadata(hf_hub_url(repo_id, filename, endpoint=endpoint), token=token)
    revision = metadata.commit_hash or "main"
    return HubFile(filename=filename, url=hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint),
                   token=token, size=metadata.size, etag=metadata.etag or revision)


class _Interrupted(Exception):
    """The download stopped early for a reason worth another attempt from where it stopped."""


class _DiskFailed(Exception):
    """The disk refused the bytes; the OSError is the cause."""


@dataclass
class ResumableDownload:
    """Fetches a HubFile into `<folder>/<name>.incomplete`, then renames it to `<folder>/<name>`."""

    source: HubFile
    folder: Path
    ssl_context: ssl.SSLContext
    max_attempts: int

    @property
    def path(self) -> Path:
        return self.folder / self.source.partial_name()

    @property
    def partial(self) -> Path:
        return self.folder / f"{self.source.partial_name()}.incomplete"

    async def run(self, report: Callable[[int], None]) -> Path:
        """Download (or find already downloaded) the file; a cancelled call waits for its thread to stop
        writing, so that removing a failed pull's folder never races a write that would recreate it."""
        stop = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(self._download, report, stop))
        try:
            return await asyncio.shield(work)
        finally:
            stop.set()
            await asyncio.wait([work])
            if not work.cancelled():
                work.exception()  # retrieved here when the shield's waiter was cancelled first

    def _download(self, report: Callable[[int], None], stop: threading.Event) -> Path:
        if self.path.exists():
            return self.path
        partial = PartialBlob(self.partial)
        for attempt in range(self.max_attempts):
            try:
                self._fetch_into(partial, report, stop)
                break
            except _DiskFailed as exc:
                cause = exc.__cause__
                reason = getattr(cause, "strerror", None) or str(cause)
                raise StoreError(f"cannot write {self.source.filename} into the store: {reason}") from cause
            except _Interrupted as exc:
                if stop.is_set():
                    raise
                if attempt + 1 >= self.max_attempts:
                    raise RegistryUnavailable(f"download of {self.source.filename} from Hugging Face failed after "
                                              f"{self.max_attempts} attempts: {exc}") from exc
                stop.wait(backoff_s(attempt))
        self._check(partial)
        partial.path.rename(self.path)
        return self.path

    def _fetch_into(self, partial: PartialBlob, report: Callable[[int], None], stop: threading.Event) -> None:
        size = self.source.size
        offset = partial.size_on_disk()
        if size is not None and offset > size:
            offset = 0
        if size is not None and offset == size and offset > 0:
            return
        headers = build_hf_headers(token=self.source.token)
        headers["Accept-Encoding"] = "identity"
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            with open_blob(self.source.url, headers, self.ssl_context) as response:
                if response.status in TRANSIENT_STATUSES:
                    raise _Interrupted(f"HTTP {response.status}")
                if response.status not in (200, 206):
                    raise RegistryUnavailable(f"Hugging Face answered HTTP {response.status} for {self.source.filename}")
                if response.status == 200:
                    offset = 0
                offset = self._copy(response, partial, offset, report, stop)
        except (OSError, http.client.HTTPException) as exc:
            raise _Interrupted(f"{type(exc).__name__}: {exc}") from exc
        if stop.is_set():
            raise _Interrupted("the pull was cancelled")
        if size is not None and offset < size:
            raise _Interrupted(f"{self.source.filename} ended after {offset} of {size} bytes")

    @staticmethod
    def _copy(response: http.client.HTTPResponse, partial: PartialBlob, offset: int,
              report: Callable[[int], None], stop: threading.Event) -> int:
        """Append the body to the partial file, hashing it; what arrived before a dropped connection stays
        on disk, so the next attempt asks only for the rest. Returns the bytes on disk."""
        try:
            partial.catch_up(offset)
            handle = partial.open(offset)
        except OSError as exc:
            raise _DiskFailed() from exc
        try:
            while not stop.is_set():
                chunk = response.read(READ_BYTES)  # a network failure raises OSError or HTTPException here
                if not chunk:
                    break
                try:
                    handle.write(chunk)
                except OSError as exc:
                    raise _DiskFailed() from exc
                partial.hash(chunk)
                offset += len(chunk)
                report(offset)
        finally:
            try:
                handle.close()
            except OSError as exc:
                raise _DiskFailed() from exc
        return offset

    def _check(self, partial: PartialBlob) -> None:
        expected = self.source.sha256
        if expected is None:
            return
        partial.catch_up(partial.size_on_disk())
        actual = partial.hasher.hexdigest()
        if actual != expected:
            partial.path.unlink(missing_ok=True)
            raise StoreError(f"{self.source.filename} from Hugging Face does not match its sha256 "
                             f"(expected {expected}, got {actual}); the file was discarded")
