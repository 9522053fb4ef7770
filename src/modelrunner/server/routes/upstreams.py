"""Registering the OpenAI-compatible servers modelrunner fronts (`/engines/upstreams`): each becomes a
model under its name, served by the remote engine."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelrunner.core.errors import Conflict, InvalidRequest, PermissionDenied
from modelrunner.engines.remote.probe import normalise_url
from modelrunner.engines.remote.registration import checked_upstream
from modelrunner.engines.remote.upstream import DEFAULT_MAX_CONCURRENCY, ReplicaAddress, Upstream
from modelrunner.scheduler.scheduler import Scheduler
from modelrunner.scheduler.upstreams import check_env_name, check_name
from modelrunner.server.bodies import read_body
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of
from modelrunner.settings import read_secret

router = APIRouter()

MAX_REPLICAS = 64


class UpstreamBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    urls: list[str] = Field(min_length=1, max_length=MAX_REPLICAS)
    model: str | None = Field(None, min_length=1, max_length=512)
    api_key_env: str | None = Field(None, min_length=1, max_length=128)
    max_concurrency: int = Field(DEFAULT_MAX_CONCURRENCY, ge=1, le=4096)
    context_size: int | None = Field(None, ge=256, le=16_777_216)
    allow_unreachable: bool = False


def _draft(body: UpstreamBody) -> Upstream:
    urls = [normalise_url(url) for url in body.urls]
    if len(set(urls)) != len(urls):
        raise InvalidRequest("urls: each replica URL once", param="urls")
    return Upstream(name=check_name(body.name), model=body.model or "",
                    replicas=tuple(ReplicaAddress(url) for url in urls),
                    api_key_env=check_env_name(body.api_key_env), max_concurrency=body.max_concurrency,
                    context_size=body.context_size)


def _api_key(upstream: Upstream) -> str | None:
    if upstream.api_key_env is None:
        return None
    key = read_secret(upstream.api_key_env)
    if key is None:
        raise InvalidRequest(f"api_key_env: {upstream.api_key_env} is not set in the runner's environment",
                             param="api_key_env")
    return key


def _describe(upstream: Upstream, scheduler: Scheduler) -> dict[str, Any]:
    """The stored record (the key's variable NAME, never its value) with the live replicas when loaded."""
    described = {**upstream.to_dict(), "engine": scheduler.upstream_engine}
    details = scheduler.runner_details(scheduler.upstream_model(upstream))
    if details is not None:
        described.update(details)
    return described


@router.post("/engines/upstreams")
async def register(request: Request) -> Response:
    services = services_of(request)
    if not services.scheduler.serves_upstreams:
        raise PermissionDenied("registering upstreams is turned off: it makes this runner fetch the URLs a caller "
                               "gives; set MODEL_RUNNER_UPSTREAMS=1 where the runner starts to turn it on")
    body = await read_body(request, UpstreamBody)
    draft = _draft(body)
    if draft.name in {upstream.name for upstream in services.scheduler.upstreams()}:
        raise Conflict(f"an upstream named {draft.name!r} is already registered; remove it first")
    upstream = await checked_upstream(draft, api_key=_api_key(draft), allow_unreachable=body.allow_unreachable,
                                      timeout_s=services.settings.upstream_timeout_s)
    await services.scheduler.add_upstream(upstream)
    return json_response(_describe(upstream, services.scheduler), status_code=201)


@router.get("/engines/upstreams")
async def list_upstreams(request: Request) -> Response:
    scheduler = services_of(request).scheduler
    return json_response({"upstreams": [_describe(upstream, scheduler) for upstream in scheduler.upstreams()]})


@router.delete("/engines/upstreams/{name:path}")
async def remove(request: Request, name: str) -> Response:
    upstream = await services_of(request).scheduler.remove_upstream(name)
    return json_response({"removed": upstream.name})
