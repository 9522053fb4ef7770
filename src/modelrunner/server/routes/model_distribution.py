"""Docker Model Runner's distribution routes: pull (`/models/create`), push, tag, delete, export,
load, and package (modelrunner's: a client uploads its files as blobs and packages them by digest, or
names paths inside MODEL_RUNNER_PACKAGE_DIRS).

Pull, push and package answer JSON lines (`{"type": "progress"|"success"|"error", ...}`). Everything
that can be checked before the first byte moves (the name, the registry's answer about the manifest,
credentials, the artifact type) fails with an HTTP status instead; a failure after that is the
stream's last line."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from modelrunner.core.errors import (
    EngineFailed,
    InvalidRequest,
    ModelRunnerError,
    PermissionDenied,
)
from modelrunner.core.references import parse_reference
from modelrunner.server.bodies import read_body
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of
from modelrunner.server.spool import spool_body
from modelrunner.store.archive import export_chunks, load_archive
from modelrunner.store.distribution import PackageRequest
from modelrunner.store.local_files import allowed_file
from modelrunner.store.store import ModelStore
from modelrunner.store.progress import Event, error_event, success_event
from modelrunner.store.verify import verify_store

logger = logging.getLogger(__name__)
router = APIRouter()

NDJSON = "application/x-ndjson"


class CreateBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", min_length=1)
    # A failed pull's partial files: true keeps them for a resume, false removes them; left out, they
    # are kept after a network failure and removed when the disk is full.
    keep_partial: bool | None = Field(default=None, alias="keep-partial")


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, min_length=1)


class BlobFile(BaseModel):
    """A file uploaded with `POST /models/blobs/{digest}`, and the name it is packaged under."""

    model_config = ConfigDict(extra="forbid")

    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    name: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00]+$")


LocalFile = str | BlobFile  # a path (read only inside MODEL_RUNNER_PACKAGE_DIRS) or an uploaded blob


class PackageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gguf: LocalFile | list[BlobFile] = Field(description="the GGUF (its first shard when sharded; every "
                                                         "shard, in order, when uploaded)")
    tag: str = Field(min_length=1, description="the model's name, e.g. myorg/mymodel:v1")
    licenses: list[LocalFile] = Field(default_factory=list)
    chat_template: LocalFile | None = None
    mmproj: LocalFile | None = None
    context_size: int | None = Field(default=None, ge=1)
    push: bool = False


async def _json_lines(events: AsyncIterator[Event]) -> AsyncIterator[bytes]:
    """Events as JSON lines; a failure becomes the last line, an `error` event."""
    try:
        async for event in events:
            yield orjson.dumps(event) + b"\n"
    except ModelRunnerError as exc:
        logger.warning("distribution stream failed: %s", exc.message)
        yield orjson.dumps(error_event(exc.message)) + b"\n"
    except Exception as exc:
        logger.exception("distribution stream failed")
        yield orjson.dumps(error_event(EngineFailed(f"internal error: {type(exc).__name__}").message)) + b"\n"
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]


def _stream(events: AsyncIterator[Event]) -> StreamingResponse:
    return StreamingResponse(_json_lines(events), media_type=NDJSON)


@router.post("/models/create")
async def pull_model(request: Request) -> Response:
    body = await read_body(request, CreateBody)
    events = await services_of(request).distribution.pull(body.from_, keep_partial=body.keep_partial)
    return _stream(events)


@router.post("/models/package")
async def package_model(request: Request) -> Response:
    body = await read_body(request, PackageBody)
    services = services_of(request)
    distribution = services.distribution
    package = await _package_request(services.store, services.settings.package_dirs, body)
    model = await distribution.package(package)
    packaged = success_event(f"Model packaged as {parse_reference(body.tag).display}", id=model.id)
    if not body.push:
        return _stream(_single(packaged))
    pushed = await distribution.push(body.tag)
    return _stream(_prepend({**packaged, "type": "progress"}, pushed))


async def _package_request(store: ModelStore, package_dirs: tuple[Path, ...], body: PackageBody) -> PackageRequest:
    """The files an HTTP caller names: uploaded blobs, or paths inside MODEL_RUNNER_PACKAGE_DIRS only."""
    names: dict[Path, str] = {}

    async def resolve(file: LocalFile) -> Path:
        if isinstance(file, str):
            return await asyncio.to_thread(allowed_file, file, package_dirs)
        if not await asyncio.to_thread(store.has_blob, file.digest):
            raise InvalidRequest(
                f"blob {file.digest} ({file.name}) was not uploaded: POST it to /models/blobs/{file.digest}")
        path = store.blob_path(file.digest)
        names[path] = file.name
        return path

    shards = [await resolve(shard) for shard in body.gguf] if isinstance(body.gguf, list) else []
    if isinstance(body.gguf, list) and not shards:
        raise InvalidRequest("package needs at least one GGUF file", param="gguf")
    first = shards[0] if shards else await resolve(body.gguf)  # type: ignore[arg-type]
    if isinstance(body.gguf, BlobFile):
        shards = [first]
    return PackageRequest(
        gguf_path=first, target=body.tag, gguf_shard_paths=tuple(shards),
        license_paths=tuple([await resolve(license_file) for license_file in body.licenses]),
        chat_template_path=await resolve(body.chat_template) if body.chat_template is not None else None,
        mmproj_path=await resolve(body.mmproj) if body.mmproj is not None else None,
        context_size=body.context_size, allowed_dirs=package_dirs, file_names=names,
    )


async def _single(event: Event) -> AsyncIterator[Event]:
    yield event


async def _prepend(first: Event, rest: AsyncIterator[Event]) -> AsyncIterator[Event]:
    yield first
    async for event in rest:
        yield event


@router.post("/models/load")
async def load_model(request: Request) -> Response:
    """Import a model tar (as `export` writes it). `?tag=` names the model when the tar does not; a tag that
    names another model is moved only with `?replace=true`."""
    services = services_of(request)
    tag = request.query_params.get("tag")
    override = parse_reference(tag) if tag else None
    replace = request.query_params.get("replace", "").lower() in ("1", "true", "yes")
    if replace and getattr(request.state, "cross_site", True):
        raise PermissionDenied("a web page may not replace a model: ?replace=true is refused on cross-site requests")
    await asyncio.to_thread(services.store.ensure_layout)
    handle = await asyncio.to_thread(tempfile.NamedTemporaryFile, dir=services.store.root,
                                     prefix=".load-", suffix=".tar", delete=False)
    spool = Path(handle.name)
    try:
        await spool_body(request, handle, spool, max_bytes=services.settings.max_upload_bytes, what="archive")
        model = await asyncio.to_thread(functools.partial(load_archive, services.store, spool, override,
                                                          replace=replace))
    finally:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(spool.unlink, True)
    return json_response({"message": "Model loaded successfully", "id": model.id,
                          "tags": [parse_reference(t).display for t in model.tags]})


@router.post("/models/verify")
async def verify_models(request: Request) -> Response:
    """Hash every blob of one model (`{"model": name}`) or of all, and say which do not match."""
    raw = await request.body()
    body = await read_body(request, VerifyBody) if raw.strip() else VerifyBody()
    services = services_of(request)
    checks = await asyncio.to_thread(verify_store, services.store, body.model)
    return json_response({"ok": all(not check.problems for check in checks),
                          "models": [check.to_api() for check in checks]})


@router.get("/models/{name:path}/export")
async def export_model(request: Request, name: str) -> Response:
    services = services_of(request)
    model = await asyncio.to_thread(services.store.find, name)
    chunks = export_chunks(services.store, model)
    filename = parse_reference(model.tags[0]).short_name if model.tags else model.short_id

    async def body() -> AsyncIterator[bytes]:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk

    return StreamingResponse(body(), media_type="application/x-tar",
                             headers={"Content-Disposition": f'attachment; filename="{filename}.tar"'})


@router.post("/models/{name:path}/tag")
async def tag_model(request: Request, name: str) -> Response:
    repository = request.query_params.get("repo", "").strip()
    tag = request.query_params.get("tag", "").strip() or None
    if not repository:
        raise InvalidRequest("the `repo` query parameter names the new tag's repository", param="repo")
    model = await services_of(request).distribution.tag(name, repository, tag)
    target = parse_reference(f"{repository}:{tag}" if tag else repository)
    return json_response({"message": f"Model tagged successfully as {target.display}", "id": model.id}, 201)


@router.post("/models/{name:path}/push")
async def push_model(request: Request, name: str) -> Response:
    return _stream(await services_of(request).distribution.push(name))


@router.delete("/models/{name:path}")
async def delete_model(request: Request, name: str) -> Response:
    force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
    services = services_of(request)
    model = await services.find_model(name)
    lines = await services.distribution.remove(name, force=force)
    if any(line.startswith("Deleted: ") for line in lines):
        await services.scheduler.unload_ids({model.id})  # its files are gone: do not keep it loaded
    return json_response([{kind: value} for kind, _, value in (line.partition(": ") for line in lines)])
