"""Docker Model Runner's distribution routes: pull (`/models/create`), push, tag, delete, export,
load, and package (modelrunner's: the runner is local, so a client names files by path).

Pull, push and package answer JSON lines (`{"type": "progress"|"success"|"error", ...}`). Everything
that can be checked before the first byte moves (the name, the registry's answer about the manifest,
credentials, the artifact type) fails with an HTTP status instead; a failure after that is the
stream's last line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from modelrunner.core.errors import Conflict, EngineFailed, InvalidRequest, ModelRunnerError
from modelrunner.core.references import parse_reference
from modelrunner.server.bodies import read_body
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of
from modelrunner.store.archive import export_chunks, load_archive
from modelrunner.store.distribution import PackageRequest
from modelrunner.store.progress import Event, error_event, success_event

logger = logging.getLogger(__name__)
router = APIRouter()

NDJSON = "application/x-ndjson"


class CreateBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", min_length=1)


class PackageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gguf: str = Field(min_length=1, description="path of the GGUF (its first shard when sharded)")
    tag: str = Field(min_length=1, description="the model's name, e.g. myorg/mymodel:v1")
    licenses: list[str] = Field(default_factory=list)
    chat_template: str | None = None
    mmproj: str | None = None
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
    events = await services_of(request).distribution.pull(body.from_)
    return _stream(events)


@router.post("/models/package")
async def package_model(request: Request) -> Response:
    body = await read_body(request, PackageBody)
    distribution = services_of(request).distribution
    package = PackageRequest(
        gguf_path=Path(body.gguf).expanduser(), target=body.tag,
        license_paths=tuple(Path(p).expanduser() for p in body.licenses),
        chat_template_path=Path(body.chat_template).expanduser() if body.chat_template else None,
        mmproj_path=Path(body.mmproj).expanduser() if body.mmproj else None,
        context_size=body.context_size,
    )
    model = await distribution.package(package)
    packaged = success_event(f"Model packaged as {parse_reference(body.tag).display}", id=model.id)
    if not body.push:
        return _stream(_single(packaged))
    pushed = await distribution.push(body.tag)
    return _stream(_prepend({**packaged, "type": "progress"}, pushed))


async def _single(event: Event) -> AsyncIterator[Event]:
    yield event


async def _prepend(first: Event, rest: AsyncIterator[Event]) -> AsyncIterator[Event]:
    yield first
    async for event in rest:
        yield event


@router.post("/models/load")
async def load_model(request: Request) -> Response:
    """Import a model tar (as `export` writes it). `?tag=` names the model when the tar does not."""
    services = services_of(request)
    tag = request.query_params.get("tag")
    override = parse_reference(tag) if tag else None
    await asyncio.to_thread(services.store.ensure_layout)
    handle = await asyncio.to_thread(tempfile.NamedTemporaryFile, dir=services.store.root,
                                     prefix=".load-", suffix=".tar", delete=False)
    spool = Path(handle.name)
    try:
        async for chunk in request.stream():
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.close)
        model = await asyncio.to_thread(load_archive, services.store, spool, override)
    finally:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(spool.unlink, True)
    return json_response({"message": "Model loaded successfully", "id": model.id,
                          "tags": [parse_reference(t).display for t in model.tags]})


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


@router.delete("/models/purge")
async def purge_models(request: Request) -> Response:
    """Remove every model, as Docker Model Runner's purge does: idle runners are unloaded first, and
    while any runner is serving a request nothing is removed."""
    services = services_of(request)
    await services.scheduler.unload()
    busy = services.scheduler.snapshot()
    if busy:
        raise Conflict(f"{len(busy)} runner(s) are still serving requests ({', '.join(r['model_name'] for r in busy)}); "
                       "purge again when they are idle")
    lines: list[str] = []
    for model in await services.list_models():
        lines += await services.distribution.remove(model.id, force=True)
    return json_response([{kind: value} for kind, _, value in (line.partition(": ") for line in lines)])


@router.delete("/models/{name:path}")
async def delete_model(request: Request, name: str) -> Response:
    force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
    services = services_of(request)
    model = await services.find_model(name)
    lines = await services.distribution.remove(name, force=force)
    if any(line.startswith("Deleted: ") for line in lines):
        await services.scheduler.unload_ids({model.id})  # its files are gone: do not keep it loaded
    return json_response([{kind: value} for kind, _, value in (line.partition(": ") for line in lines)])
