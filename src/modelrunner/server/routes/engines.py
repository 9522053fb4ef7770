"""Docker Model Runner's runner management routes: `/engines/ps`, `/engines/unload`,
`/engines/status`, `/engines/df` and per-model configuration (`/engines[/{backend}]/_configure`)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.core.disk_usage import directory_size_bytes
from modelrunner.core.errors import InvalidRequest, NotFound
from modelrunner.scheduler.memory import add_resident_memory
from modelrunner.server.bodies import read_json
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of

router = APIRouter()


def _check_backend(request: Request, backend: str | None) -> None:
    known = [engine.name for engine in services_of(request).scheduler.engines]
    if backend is not None and backend not in known:
        raise NotFound(f"no backend {backend!r}; this runner has {', '.join(map(repr, known))}")


async def _object_body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


@router.get("/engines/ps")
async def running_models(request: Request) -> Response:
    runners = services_of(request).scheduler.snapshot()
    return json_response(await asyncio.to_thread(add_resident_memory, runners))


@router.post("/engines/unload")
async def unload(request: Request) -> Response:
    body = await _object_body(request)
    _check_backend(request, body.get("backend") or None)
    models = body.get("models")
    if body.get("all") is True:
        models = None
    elif not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise InvalidRequest('give {"all": true} or {"models": ["name", ...]}', param="models")
    unloaded = await services_of(request).scheduler.unload(models=models)
    return json_response({"unloaded_runners": unloaded})


@router.get("/engines/status")
async def status(request: Request) -> Response:
    return json_response({engine.name: engine.status() for engine in services_of(request).scheduler.engines})


@router.get("/engines/df")
async def disk_usage(request: Request) -> Response:
    services = services_of(request)
    models_bytes = await asyncio.to_thread(directory_size_bytes, services.store.root / "blobs")
    engine_bytes = await asyncio.to_thread(services.scheduler.engine.disk_usage_bytes)
    return json_response({"models_disk_usage": models_bytes, "default_backend_disk_usage": engine_bytes})


async def _configure(request: Request, backend: str | None) -> Response:
    _check_backend(request, backend)
    body = await _object_body(request)
    name = body.get("model")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("model: field required", param="model")
    request.state.model = name
    model, settings = await services_of(request).scheduler.configure(name, body)
    return json_response({"model": name, "id": model.id, **settings.to_api()}, status_code=202)


@router.post("/engines/_configure")
async def configure(request: Request) -> Response:
    return await _configure(request, None)


@router.post("/engines/{backend}/_configure")
async def configure_backend(request: Request, backend: str) -> Response:
    return await _configure(request, backend)


@router.get("/engines/_configure")
async def configurations(request: Request, model: str | None = None) -> Response:
    return json_response(await services_of(request).scheduler.configurations(model))
