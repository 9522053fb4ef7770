"""Blobs uploaded by digest (`HEAD`/`POST /models/blobs/sha256:<hex>`), so that a client packages its
own files without the runner ever reading a path it names: the CLI uploads, then packages by digest.
A blob becomes visible only once its bytes match its digest."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.core.errors import InvalidRequest
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of
from modelrunner.server.spool import spool_body

router = APIRouter()


@router.head("/models/blobs/{digest}")
async def has_blob(request: Request, digest: str) -> Response:
    store = services_of(request).store
    return Response(status_code=200 if await asyncio.to_thread(store.has_blob, digest) else 404)


@router.post("/models/blobs/{digest}")
async def upload_blob(request: Request, digest: str) -> Response:
    store = services_of(request).store
    target = store.blob_path(digest)  # an invalid digest is a 400 before any byte is read
    await asyncio.to_thread(store.ensure_layout)
    handle = await asyncio.to_thread(tempfile.NamedTemporaryFile, dir=target.parent, prefix=".upload-",
                                     suffix=".incomplete", delete=False)
    partial = Path(handle.name)
    hasher = hashlib.sha256()
    try:
        size = await spool_body(request, handle, partial, max_bytes=services_of(request).settings.max_upload_bytes,
                                what="blob", hasher=hasher)
        if "sha256:" + hasher.hexdigest() != digest:
            raise InvalidRequest(f"the uploaded bytes do not match {digest}; nothing was stored")
        await asyncio.to_thread(store.commit_blob, partial, digest, verified=True)
    finally:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(partial.unlink, True)
    return json_response({"digest": digest, "size": size}, 201)
