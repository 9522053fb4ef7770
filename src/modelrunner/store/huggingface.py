"""Pulling GGUF models from Hugging Face through `huggingface_hub`: the chosen files are downloaded
next to the store (same filesystem, so they become blobs by hard link) and packaged like
`package --gguf`, under `huggingface.co/org/repo:quant`."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub import errors as hub_errors

from modelrunner.core.errors import AuthenticationFailed, ModelRunnerError, NotFound, RegistryUnavailable
from modelrunner.core.references import ModelReference
from modelrunner.settings import Settings
from modelrunner.store.hf_selection import HuggingFaceSelection, select_files
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.progress import EmitEvent, Event, message_event, progress_event, success_event
from modelrunner.store.store import ModelStore


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
    """A pull of `hf.co/ORG/REPO[:QUANT]` whose files are chosen; `run` downloads and packages them."""

    settings: Settings
    store: ModelStore
    reference: ModelReference
    repo_id: str
    selection: HuggingFaceSelection

    @classmethod
    async def prepare(cls, settings: Settings, store: ModelStore, name: str,
                      reference: ModelReference) -> HuggingFacePull:
        api = HfApi(endpoint=settings.hf_endpoint, token=settings.hf_token)
        repo_id = repo_id_as_typed(name)
        try:
            files = await asyncio.to_thread(api.list_repo_files, repo_id)
        except Exception as exc:
            raise _hub_error(exc, repo_id) from exc
        return cls(settings, store, reference, repo_id, select_files(files, reference.tag))

    @property
    def files(self) -> list[str]:
        extra = [self.selection.mmproj_file] if self.selection.mmproj_file else []
        return [*self.selection.gguf_files, *extra]

    def _download(self, filename: str, folder: Path) -> Path:
        try:
            return Path(hf_hub_download(self.repo_id, filename, local_dir=folder,
                                        endpoint=self.settings.hf_endpoint, token=self.settings.hf_token))
        except Exception as exc:
            raise _hub_error(exc, self.repo_id) from exc

    def tags(self) -> list[ModelReference]:
        tags = [self.reference]
        if self.reference.tag != self.selection.quant:
            tags.append(self.reference.with_tag(self.selection.quant))
        return tags

    async def run(self, emit: EmitEvent) -> Event:
        await asyncio.to_thread(self.store.ensure_layout)
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".hf-", dir=self.store.root))
        try:
            paths: dict[str, Path] = {}
            done = 0
            for index, filename in enumerate(self.files, 1):
                emit(message_event(f"Downloading {filename} ({index}/{len(self.files)}) from Hugging Face"))
                paths[filename] = await asyncio.to_thread(self._download, filename, folder)
                size = paths[filename].stat().st_size
                done += size
                emit(progress_event("Downloaded", done, done, filename, size, size))
            mmproj = self.selection.mmproj_file
            spec = PackageSpec(gguf_paths=[paths[f] for f in self.selection.gguf_files],
                               mmproj_path=paths[mmproj] if mmproj else None)
            model = await asyncio.to_thread(package_gguf, self.store, spec, self.tags())
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        return success_event("Model pulled successfully", id=model.id)
