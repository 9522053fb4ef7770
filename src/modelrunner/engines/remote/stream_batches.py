"""An upstream's SSE stream read one network read at a time: the `data:` objects each read brought, and
their chunks with adjacent text joined. When the upstream streams faster than one event per token can be
relayed, the client gets one text event per read instead of one per token, which is what keeps the relay
from being the bottleneck of a fast cluster. Per token, the cost is one line split, one slice and one
text lookup: a read's objects are parsed by one `orjson.loads` of a JSON array, and a delta that carries
only text skips the general decoder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelrunner.core.chat import EngineChunk, TextDelta
from modelrunner.engines.openai_wire import decode_chunk

_DATA_PREFIX = b"data:"
_DONE = b"[DONE]"
_TEXT_ONLY_DELTA = frozenset({"content", "role"})
"""Keys of a delta that carries only text (some servers repeat the role): anything else is decoded in full."""


def _parsed(datas: list[bytes]) -> list[dict[str, Any]]:
    return orjson.loads(b"[" + b",".join(datas) + b"]") if len(datas) > 1 else [orjson.loads(datas[0])]


async def payload_batches(raw: AsyncIterator[bytes]) -> AsyncIterator[list[dict[str, Any]]]:
    """The decoded `data:` objects of each read, in order, until `[DONE]` or the end of the stream."""
    pending = b""
    prefix_length = len(_DATA_PREFIX)
    async for piece in raw:
        if pending:
            piece = pending + piece
        *lines, pending = piece.split(b"\n")
        datas: list[bytes] = []
        for line in lines:
            if line[:prefix_length] != _DATA_PREFIX:
                continue
            data = line[prefix_length:].strip()
            if data == _DONE:
                if datas:
                    yield _parsed(datas)
                return
            datas.append(data)
        if datas:
            yield _parsed(datas)
    data = pending.strip().removeprefix(_DATA_PREFIX).strip()
    if data and data != _DONE:
        yield [orjson.loads(data)]


def _only_text(payload: dict[str, Any]) -> str | None:
    """The text of a chunk that carries nothing else (no finish, usage, reasoning or tool call), or None."""
    choices = payload.get("choices")
    if not choices or len(choices) != 1 or payload.get("usage"):
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if delta is None or choice.get("finish_reason") or not delta.keys() <= _TEXT_ONLY_DELTA:
        return None
    return delta.get("content") or ""


def decode_batch(payloads: list[dict[str, Any]]) -> list[EngineChunk]:
    """The chunks of one read, adjacent text deltas joined into one."""
    chunks: list[EngineChunk] = []
    text: list[str] = []
    for payload in payloads:
        only_text = _only_text(payload)
        if only_text is not None:
            if only_text:
                text.append(only_text)
            continue
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
