"""Docker Model Runner's model management routes (`/models...`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of

router = APIRouter()


@router.get("/models")
async def list_models(request: Request) -> Response:
    models = await services_of(request).list_models()
    return json_response([model.to_api() for model in models])


@router.get("/models/{name:path}")
async def get_model(request: Request, name: str) -> Response:
    model = await services_of(request).find_model(name)
    return json_response(model.to_api())
