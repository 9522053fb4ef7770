"""`x-preload-only: true`: load the model a request names and answer at once, generating nothing."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from modelrunner.generation import context as generation
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of


def is_preload_only(headers: Headers) -> bool:
    return headers.get("x-preload-only", "").strip().lower() == "true"


async def preload_response(request: Request, model: str, keep_alive: str | None) -> Response:
    lease = await generation.preload(services_of(request).scheduler, model, keep_alive=keep_alive)
    return json_response({"model": model, "loaded": True, "id": lease.model.id})
