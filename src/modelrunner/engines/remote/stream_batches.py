"""An upstream's SSE stream read one network read at a time: the `data:` objects each read brought, and
their chunks with adjacent text joined. When the upstream streams faster than one event per token can be
relayed, the client gets one text event per read instead of one per token, which is what keeps the relay
from being the bottleneck of a fast cluster. Per token, the cost is a line split, a slice and a few
dict lookups: a read's objects are parsed by one `orjson.loads` of a JSON array."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelrunner.core.chat import EngineChunk, TextDelta
from modelrunner.engines.openai_wire import decode_chunk

_DATA_PREFIX = b"data:"
_DONE = b"[DONE]"
_USUAL_PREFIX = b"data: "
_USUAL_SEPARATOR = b"\n\ndata: "
_TEXT_ONLY_DELTA = frozenset({"content", "role"})
"""Keys of a delta that carries only text (some servers repeat the role): anything else is decoded in full."""


def _parsed(datas: list[bytes]) -> list[dict[str, Any]]:
    """One parse for a read's objects (JSON allows the blank after `data:` and a trailing \r)."""
    return orjson.loads(b"[" + b",".join(datas) + b"]") if len(datas) > 1 else [orjson.loads(datas[0])]


def _as_array(events: bytes) -> bytes | None:
    """Whole events in the usual form (`data: {...}` lines, one blank line after each) as one JSON array,
    made by one replace: a JSON text holds no raw newline, so the separators cannot occur inside one, and
    any newline left over means another form (comments, CRLF, `[DONE]`...), for the line-by-line path."""
    if not events.startswith(_USUAL_PREFIX) or _DONE in events:
        return None
    array = b"[" + events[len(_USUAL_PREFIX):-2].replace(_USUAL_SEPARATOR, b",") + b"]"
    return None if b"\n" in array else array


async def payload_batches(raw: AsyncIterator[bytes]) -> AsyncIterator[list[dict[str, Any]]]:
    """The decoded `data:` objects of each read, in order, until `[DONE]` (the last event a server sends)
    or the end of the stream. Comments and other SSE fields are skipped."""
    pending = b""
    for_data = len(_DATA_PREFIX)
    async for piece in raw:
        if pending:
            piece = pending + piece
        whole = piece.rfind(b"\n\n") + 2
        array = _as_array(piece[:whole]) if whole >= 2 else None
        if array is not None:
            pending = piece[whole:]
            yield orjson.loads(array)
            continue
        *lines, pending = piece.split(b"\n")
        datas = [line[for_data:] for line in lines if line[:for_data] == _DATA_PREFIX]
        if not datas:
            continue
        if datas[-1].strip() == _DONE:
            del datas[-1]
            if datas:
                yield _parsed(datas)
            return
        yield _parsed(datas)
    data = pending.strip().removeprefix(_DATA_PREFIX).strip()
    if data and data != _DONE:
        yield [orjson.loads(data)]


def decode_batch(payloads: list[dict[str, Any]]) -> list[EngineChunk]:
    """The chunks of one read, adjacent text deltas joined into one. A chunk that carries only text (no
    finish, usage, reasoning or tool call) skips the general decoder."""
    chunks: list[EngineChunk] = []
    text: list[str] = []
    for payload in payloads:
        choices = payload.get("choices")
        if choices and len(choices) == 1 and not payload.get("usage"):
            choice = choices[0]
            delta = choice.get("delta")
            if delta is not None and not choice.get("finish_reason") and delta.keys() <= _TEXT_ONLY_DELTA:
                content = delta.get("content")
                if content:
                    text.append(content)
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
