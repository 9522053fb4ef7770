"""`/ui`: the web inspector, plain files shipped in the package and served as they are (no build step, no
asset from elsewhere: the content security policy lets the page load only from this runner)."""

from __future__ import annotations

import asyncio
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from modelrunner.core.errors import NotFound
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of

router = APIRouter()

UI_PACKAGE = "modelrunner.server"
UI_FOLDER = "ui"
UI_FILES = {
    "index.html": "text/html; charset=utf-8",
    "inspector.css": "text/css; charset=utf-8",
    "inspector.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
UI_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache",
              "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _read_ui_file(name: str) -> bytes:
    return resources.files(UI_PACKAGE).joinpath(UI_FOLDER, name).read_bytes()


@router.get("/ui", include_in_schema=False)
async def inspector_root() -> Response:
    return RedirectResponse("ui/", status_code=307)


@router.get("/ui/runner.json", include_in_schema=False)
async def inspector_runner(request: Request) -> Response:
    """Whether the page must ask for the API key before its first call (and so log no refused call)."""
    return json_response({"api_key_required": services_of(request).settings.api_key is not None},
                         headers=UI_HEADERS)


@router.get("/ui/{name:path}", include_in_schema=False)
async def inspector_file(name: str) -> Response:
    name = name or "index.html"
    media_type = UI_FILES.get(name)
    if media_type is None:  # only the files listed: a caller never names a path
        raise NotFound(f"no inspector file {name!r}")
    content = await asyncio.to_thread(_read_ui_file, name)
    return Response(content, media_type=media_type, headers=UI_HEADERS)
