"""An upstream's SSE stream read one network read at a time: the `data:` objects each read brought, and
their chunks with adjacent text joined. When the upstream streams faster than one event per token can be
relayed, the client gets one text event per read instead of one per token, which is what keeps the relay
from being the bottleneck of a fast cluster.

Per token, the relay (`relay_batches`) parses no JSON: an upstream writes its text-only events with the
same bytes around the text every time (vLLM, SGLang and llama.cpp's servers do, for a second at least),
so once one such event has been parsed, a read made only of events with those bytes is split on them and
its texts are joined as they are; only a text with an escape goes through `orjson`, one string at a time.
Parsing every event into dicts cost about half the relay's CPU, and its garbage-collector passes grew
with the number of streams. Any read that does not match is parsed whole, as before (`payload_batches`)."""

from __future__ import annotations

import operator
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelrunner.core.chat import EngineChunk, TextDelta
from modelrunner.engines.openai_wire import decode_chunk

_DATA_PREFIX = b"data:"
_DONE = b"[DONE]"
_USUAL_PREFIX = b"data: "
_USUAL_SEPARATOR = b"\n\ndata: "
_EVENT_END = b"\n\n"
_TEXT_ONLY_DELTA = frozenset({"content", "role"})
"""Keys of a delta that carries only text (some servers repeat the role): anything else is decoded in full."""
_CONTENT_KEY = b'"content"'
_NOT_PLAIN_IN_JSON = re.compile(rb'[\x00-\x1f"\\]')
"""What a JSON string's inside may not hold as it is: quotes, escapes and control characters."""

Payload = dict[str, Any] | str
"""An upstream's decoded `data:` object, or (from `relay_batches`) the joined text of text-only events."""


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


def _read_objects(piece: bytes) -> tuple[list[dict[str, Any]], bytes, bool]:
    """(the objects of the whole events and lines in `piece`, the rest for the next read, whether the
    stream ended with `[DONE]`)."""
    whole = piece.rfind(_EVENT_END) + 2
    array = _as_array(piece[:whole]) if whole >= 2 else None
    if array is not None:
        return orjson.loads(array), piece[whole:], False
    *lines, pending = piece.split(b"\n")
    datas = [line[len(_DATA_PREFIX):] for line in lines if line[:len(_DATA_PREFIX)] == _DATA_PREFIX]
    if not datas:
        return [], pending, False
    if datas[-1].strip() == _DONE:
        del datas[-1]
        return (_parsed(datas) if datas else []), pending, True
    return _parsed(datas), pending, False


def _last_object(pending: bytes) -> list[dict[str, Any]]:
    """An object the stream ended on without its blank line."""
    data = pending.strip().removeprefix(_DATA_PREFIX).strip()
    return [orjson.loads(data)] if data and data != _DONE else []


async def payload_batches(raw: AsyncIterator[bytes]) -> AsyncIterator[list[dict[str, Any]]]:
    """The decoded `data:` objects of each read, in order, until `[DONE]` (the last event a server sends)
    or the end of the stream. Comments and other SSE fields are skipped."""
    pending = b""
    async for piece in raw:
        payloads, pending, is_done = _read_objects(pending + piece if pending else piece)
        if payloads:
            yield payloads
        if is_done:
            return
    if last := _last_object(pending):
        yield last


def _plain_texts(parts: list[bytes]) -> str | None:
    """The texts that JSON strings' insides stand for, joined; None when one is not such an inside."""
    joined = b"".join(parts)
    try:
        if _NOT_PLAIN_IN_JSON.search(joined) is None:
            return joined.decode()
        return "".join([orjson.loads(b'"' + part + b'"') if _NOT_PLAIN_IN_JSON.search(part) else part.decode()
                        for part in parts])
    except ValueError:  # a bad escape, a quote that ends the string early, bytes that are not UTF-8
        return None


def _only_text(payload: Any) -> str | None:
    """The text of an object that the relay turns into that text and nothing else (no finish, usage,
    reasoning, tool call or error)."""
    if type(payload) is not dict or "error" in payload:
        return None
    choices = payload.get("choices")
    if type(choices) is not list or len(choices) != 1 or type(choices[0]) is not dict:
        return None
    delta = choices[0].get("delta")
    content = delta.get("content") if type(delta) is dict else None
    if type(content) is not str or not content or decode_chunk(payload) != [TextDelta(content)]:
        return None
    return content


class TextEventForm:
    """The bytes of an upstream's text-only event around its text, `data: {...,"content":"` and
    `"...}`: an event made of them and any JSON string's inside between is the same object with
    another text, since a string's inside cannot change how the rest of the object parses."""

    __slots__ = ("head", "end", "separator", "_text_of_line")

    def __init__(self, before_text: bytes, after_text: bytes) -> None:
        self.head = _USUAL_PREFIX + before_text
        self.end = after_text + _EVENT_END
        self.separator = self.end + self.head
        self._text_of_line = operator.itemgetter(slice(len(self.head), -len(after_text)))

    @classmethod
    def learned(cls, events: bytes, payload: Any) -> TextEventForm | None:
        """The form of the last of `events` (whole events), if it is a text-only event whose text's place
        is certain: its object holds `"content"` once, as a key (after `{` or `,`), with a string value."""
        text = _only_text(payload)
        if text is None or not events.endswith(_EVENT_END):
            return None
        line = events[events.rfind(b"\n", 0, len(events) - 2) + 1:-2]
        if not line.startswith(_USUAL_PREFIX):
            return None
        json = line[len(_USUAL_PREFIX):]
        key = json.find(_CONTENT_KEY)
        if key < 0 or json.find(_CONTENT_KEY, key + 1) >= 0 or json[:key].rstrip()[-1:] not in (b"{", b","):
            return None
        after_key = json[key + len(_CONTENT_KEY):].lstrip()
        value = after_key[1:].lstrip()
        if not after_key.startswith(b":") or not value.startswith(b'"'):
            return None
        opening = len(json) - len(value)
        closing = opening
        while True:
            closing = json.find(b'"', closing + 1)
            if closing < 0:
                return None
            escapes = closing - len(json[:closing].rstrip(b"\\"))
            if escapes % 2 == 0:
                break
        try:
            if orjson.loads(json[opening:closing + 1]) != text:
                return None
        except ValueError:
            return None
        return cls(json[:opening + 1], json[closing:])

    def texts(self, events: bytes) -> str | None:
        """The joined texts of `events` (whole events) if every one has this form, else None. The events
        are split on their blank lines and their texts cut out by position, then put back together
        around the form's bytes: equal to `events` only if every event had the form. (Splitting on the
        form's bytes directly costs a search set-up per event, as much as parsing them.)"""
        texts = list(map(self._text_of_line, events[:-len(_EVENT_END)].split(_EVENT_END)))
        if self.head + self.separator.join(texts) + self.end != events:
            return None
        return _plain_texts(texts)


async def relay_batches(raw: AsyncIterator[bytes]) -> AsyncIterator[list[Payload]]:
    """`payload_batches` for the relay: a read made only of text-only events in the form last seen comes
    as its joined text (one `str`) without parsing JSON; any other read as its decoded objects."""
    form: TextEventForm | None = None
    pending = b""
    async for piece in raw:
        if pending:
            piece = pending + piece
        whole = piece.rfind(_EVENT_END) + 2
        if form is not None and whole >= 2:
            text = form.texts(piece[:whole])
            if text is not None:
                pending = piece[whole:]
                yield [text]
                continue
        payloads, pending, is_done = _read_objects(piece)
        if payloads:
            form = TextEventForm.learned(piece[:len(piece) - len(pending)], payloads[-1]) or form
            yield payloads  # type: ignore[misc]  # list is invariant; dicts are Payloads
        if is_done:
            return
    if last := _last_object(pending):
        yield last  # type: ignore[misc]


def decode_batch(payloads: list[Payload]) -> list[EngineChunk]:
    """The chunks of one read, adjacent text deltas joined into one. A chunk that carries only text (no
    finish, usage, reasoning or tool call) skips the general decoder; a `str` is text already."""
    chunks: list[EngineChunk] = []
    text: list[str] = []
    for payload in payloads:
        if type(payload) is str:
            if payload:
                text.append(payload)
            continue
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
