"""Split a byte stream into lines without decoding it first: orjson reads the bytes directly, which
keeps the per-token cost of reading an engine's SSE stream to one split and one parse."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def iter_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for chunk in chunks:
        if pending:
            chunk = pending + chunk
        *lines, pending = chunk.split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if line:
                yield line
    pending = pending.rstrip(b"\r")
    if pending:
        yield pending
