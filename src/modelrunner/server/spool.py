"""Large uploads (model archives, blobs) written to a spool file as they arrive: bounded by the
configured cap, checked against the free space they announce, and a full disk answered as a 507."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import IO

from starlette.requests import Request

from modelrunner.core.errors import RequestTooLarge
from modelrunner.store.disk_space import free_bytes, is_out_of_space, out_of_space


def _write(handle: IO[bytes], hasher: hashlib._Hash | None, chunk: bytes) -> None:
    if hasher is not None:
        hasher.update(chunk)
    handle.write(chunk)


async def spool_body(request: Request, handle: IO[bytes], spool: Path, *, max_bytes: int | None, what: str,
                     hasher: hashlib._Hash | None = None) -> int:
    """Write the request body to `handle` and close it; returns the bytes written. Nothing is kept by the
    caller when this raises: a body over `max_bytes` is a 413, one that cannot fit on the disk a 507."""
    announced_header = request.headers.get("content-length", "")
    announced = int(announced_header) if announced_header.isdigit() else 0
    if max_bytes is not None and announced > max_bytes:
        raise RequestTooLarge(f"the {what} is larger than MODEL_RUNNER_MAX_UPLOAD_BYTES ({max_bytes} bytes)")
    if announced and announced > await asyncio.to_thread(free_bytes, spool.parent):
        raise out_of_space(spool.parent, announced, f"the {what} was not stored")
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if max_bytes is not None and received > max_bytes:
                raise RequestTooLarge(f"the {what} is larger than MODEL_RUNNER_MAX_UPLOAD_BYTES ({max_bytes} bytes)")
            await asyncio.to_thread(_write, handle, hasher, chunk)
        await asyncio.to_thread(handle.close)
    except OSError as exc:
        if is_out_of_space(exc):
            raise out_of_space(spool.parent, max(received, announced), f"the {what} was not stored") from exc
        raise
    return received
