"""Pulling GGUF models from Hugging Face through `huggingface_hub`: the chosen files are downloaded
next to the store (same filesystem, so they become blobs by hard link) and packaged like
`package --gguf`, under `huggingface.co/org/repo:quant`."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from huggingface_hub import HfApi
from huggingface_hub import errors as hub_errors

from modelrunner.core.errors import AuthenticationFailed, ModelRunnerError, NotFound, RegistryUnavailable
from modelrunner.core.references import ModelReference
from modelrunner.settings import Settings
from modelrunner.store.disk_space import is_out_of_space
from modelrunner.store.failed_pull import failed_pull_error, removes_partials
from modelrunner.store.hf_download import HubFile, ResumableDownload, hub_file
from modelrunner.store.hf_selection import HuggingFaceSelection, select_files
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.progress import EmitEvent, Event, message_event, progress_event, success_event
from modelrunner.store.single_flight import SingleFlight
from modelrunner.store.store import ModelStore

PARTIAL_FOLDER_PREFIX = ".hf-"
PROGRESS_STEP_BYTES = 4 * 1024 * 1024


def repo_id_as_typed(name: str) -> str:
    """`ORG/REPO` in the user's own case: references are lowercased, Hub repository ids are not."""
    path = name.strip().split("/", 1)[1] if "/" in name.strip() else name.strip()
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    return path[:colon] if colon > last_slash else path


def _hub_error(exc: Exception, repo: str) -> ModelRunnerError:
    """modelrunner's error for what huggingface_hub raised."""
    if isinstance(exc, hub_errors.GatedRepoError):
        return AuthenticationFailed(f"authentication required: Hugging Face repository {repo} is gated; "
                                    "accept its terms on the Hub and set HF_TOKEN")
    if isinstance(exc, hub_errors.RepositoryNotFoundError):
        return NotFound(f"model not found on Hugging Face: {repo} (a private repository needs HF_TOKEN)")
    if isinstance(exc, (hub_errors.EntryNotFoundError, hub_errors.RevisionNotFoundError)):
        return NotFound(f"file not found in Hugging Face repository {repo}: {exc}")
    if isinstance(exc, hub_errors.HfHubHTTPError):
        status = getattr(exc.response, "status_code", None)
        if status in (401, 403):
            return AuthenticationFailed(f"authentication required: Hugging Face refused access to {repo}; set HF_TOKEN")
        return RegistryUnavailable(f"Hugging Face answered HTTP {status} for {repo}")
    return RegistryUnavailable(f"Hugging Face is unreachable for {repo}: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class HuggingFacePull:
    """A pull of `hf.co/ORG/REPO[:QUANT]` whose files are chosen; `run` downloads and packages them.

    The files go to a folder in the store named after the repository and the files (`.hf-<hash>`), so a
    failed pull's partial files are found again by the next pull of the same model, which resumes them.
    `keep_partial` as for registry pulls (see `failed_pull`) decides what a failure does with that folder."""

    settings: Settings
    store: ModelStore
    reference: ModelReference
    repo_id: str
    selection: HuggingFaceSelection
    flights: SingleFlight[None]
    ssl_context: ssl.SSLContext
    keep_partial: bool | None = None

    @classmethod
    async def prepare(cls, settings: Settings, store: ModelStore, name: str, reference: ModelReference, *,
                      flights: SingleFlight[None], ssl_context: ssl.SSLContext,
                      keep_partial: bool | None = None) -> HuggingFacePull:
        api = HfApi(endpoint=settings.hf_endpoint, token=settings.hf_token)
        repo_id = repo_id_as_typed(name)
        try:
            files = await asyncio.to_thread(api.list_repo_files, repo_id)
        except Exception as exc:
            raise _hub_error(exc, repo_id) from exc
        return cls(settings, store, reference, repo_id, select_files(files, reference.tag), flights, ssl_context,
                   keep_partial)

    @property
    def files(self) -> list[str]:
        extra = [self.selection.mmproj_file] if self.selection.mmproj_file else []
        return [*self.selection.gguf_files, *extra]

    @property
    def partial_folder(self) -> Path:
        key = hashlib.sha256("\n".join([self.settings.hf_endpoint, self.repo_id, *self.files]).encode())
        return self.store.root / f"{PARTIAL_FOLDER_PREFIX}{key.hexdigest()[:24]}"

    def _locate(self, filename: str) -> HubFile:
        try:
            return hub_file(self.repo_id, filename, endpoint=self.settings.hf_endpoint, token=self.settings.hf_token)
        except Exception as exc:
            raise _hub_error(exc, self.repo_id) from exc

    async def _download(self, source: HubFile, emit: EmitEvent) -> Path:
        """The file on disk, downloaded once per process however many pulls ask for it at once."""
        download = ResumableDownload(source, self.partial_folder, self.ssl_context,
                                     self.settings.registry_max_attempts)
        loop = asyncio.get_running_loop()
        size = source.size or 0
        last_reported = 0

        def report(done: int) -> None:
            nonlocal last_reported
            if done - last_reported >= PROGRESS_STEP_BYTES:
                last_reported = done
                loop.call_soon_threadsafe(emit, progress_event("Downloaded", done, size, source.filename, size, done))

        async def fetch() -> None:
            await download.run(report)

        await self.flights.run(f"hf:{download.path}", fetch)
        return download.path

    def tags(self) -> list[ModelReference]:
        tags = [self.reference]
        if self.reference.tag != self.selection.quant:
            tags.append(self.reference.with_tag(self.selection.quant))
        return tags

    async def run(self, emit: EmitEvent) -> Event:
        await asyncio.to_thread(self.store.ensure_layout)
        sources: list[HubFile] = []
        try:
            paths: dict[str, Path] = {}
            done = 0
            for index, filename in enumerate(self.files, 1):
                emit(message_event(f"Downloading {filename} ({index}/{len(self.files)}) from Hugging Face"))
                sources.append(await asyncio.to_thread(self._locate, filename))
                paths[filename] = await self._download(sources[-1], emit)
                size = await asyncio.to_thread(lambda: paths[filename].stat().st_size)
                done += size
                emit(progress_event("Downloaded", done, done, filename, size, size))
            mmproj = self.selection.mmproj_file
            spec = PackageSpec(gguf_paths=[paths[f] for f in self.selection.gguf_files],
                               mmproj_path=paths[mmproj] if mmproj else None,
                               file_names={path: PurePosixPath(name).name for name, path in paths.items()})
            model = await asyncio.to_thread(package_gguf, self.store, spec, self.tags())
        except Exception as exc:
            error = await self._failed(exc, sources)
            if error is exc:
                raise
            raise error from exc
        except BaseException:  # cancelled (the client went away): kept for a resume unless asked otherwise
            if self.keep_partial is False:
                await asyncio.to_thread(shutil.rmtree, self.partial_folder, True)
            raise
        await asyncio.to_thread(shutil.rmtree, self.partial_folder, True)
        return success_event("Model pulled successfully", id=model.id)

    async def _failed(self, exc: Exception, sources: list[HubFile]) -> Exception:
        """The error a failed pull answers, after its partial folder is kept or removed as asked."""
        remove = removes_partials(self.keep_partial, exc)
        started = await asyncio.to_thread(self.partial_folder.exists)
        if not started and not is_out_of_space(exc):
            return exc  # nothing was downloaded: nothing to keep or to remove
        if remove:
            await asyncio.to_thread(shutil.rmtree, self.partial_folder, True)
        return await asyncio.to_thread(failed_pull_error, exc, removed=remove, root=self.store.root,
                                       needed_bytes=sum(source.size or 0 for source in sources),
                                       display=self.reference.display)
