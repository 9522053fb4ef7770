"""Liveness and version."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse, Response

from modelrunner import __version__
from modelrunner.server.responses import json_response

router = APIRouter()


@router.get("/")
async def root() -> Response:
    return PlainTextResponse("modelrunner is running")


@router.get("/version")
async def version() -> Response:
    return json_response({"version": __version__})
