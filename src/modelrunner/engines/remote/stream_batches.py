"""An upstream's SSE stream read one network read at a time: the `data:` objects each read brought, and
their chunks with adjacent text joined. When the upstream streams faster than one event per token can be
relayed, the client gets one text event per read instead of one per token, which is what keeps the relay
from being the bottleneck of a fast cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelrunner.core.chat import EngineChunk, TextDelta
from modelrunner.engines.openai_wire import decode_chunk

_DATA_PREFIX = b"data:"
_DONE = b"[DONE]"


async def payload_batches(raw: AsyncIterator[bytes]) -> AsyncIterator[list[dict[str, Any]]]:
    """The decoded `data:` objects of each read, in order, until `[DONE]` or the end of the stream."""
    pending = b""
    async for piece in raw:
        if pending:
            piece = pending + piece
        *lines, pending = piece.split(b"\n")
        batch: list[dict[str, Any]] = []
        for line in lines:
            if not line.startswith(_DATA_PREFIX):
                continue
            data = line[len(_DATA_PREFIX):].strip()
            if data == _DONE:
                if batch:
                    yield batch
                return
            batch.append(orjson.loads(data))
        if batch:
            yield batch
    data = pending.strip().removeprefix(_DATA_PREFIX).strip()
    if data and data != _DONE:
        yield [orjson.loads(data)]


def decode_batch(payloads: list[dict[str, Any]]) -> list[EngineChunk]:
    """The chunks of one read, adjacent text deltas joined into one."""
    chunks: list[EngineChunk] = []
    text: list[str] = []
    for payload in payloads:
        for chunk in decode_chunk(payload):
            if type(chunk) is TextDelta:
                text.append(chunk.text)
                continue
            if text:
                chunks.append(TextDelta("".join(text)))
                text = []
            chunks.append(chunk)
    if text:
        chunks.append(TextDelta("".join(text)))
    return chunks
