"""Tool calls out of engine chunks, for models whose calls the engine does not parse itself.

`constrained_calls` turns a grammar-constrained JSON answer (`{"name", "input"}`) into one call;
`PromptedCallExtractor` finds `<tool_call>{...}</tool_call>` in streamed text, holding back text that
may be the start of a call so no piece of the markup ever reaches the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from modelrunner.core.errors import UnusableSchema
from modelrunner.generation.plan import ToolPlan
from modelrunner.generation.tools import TOOL_CALL_CLOSE, TOOL_CALL_OPEN


def parse_call(text: str) -> tuple[str, dict[str, Any]] | None:
    """`{"name": N, "input": {...}}` (or `arguments`) -> (N, input); None when it is not a call."""
    try:
        value = orjson.loads(text.strip())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("input", value.get("arguments", {}))
    return (value["name"], arguments) if isinstance(arguments, dict) else None


def _call_delta(index: int, name: str, arguments: dict[str, Any]) -> ToolCallDelta:
    return ToolCallDelta(index=index, id=None, name=name, arguments=orjson.dumps(arguments).decode())


def _finish_with_calls(finish: Finish, has_calls: bool) -> Finish:
    """Text after a call is never sent, so running out of tokens there cut nothing the client sees: the
    answer is its complete calls (a client such as Claude Code runs them rather than retrying)."""
    if has_calls and finish.stop_sequence is None:
        return Finish("tool_calls")
    return finish


async def constrained_calls(chunks: AsyncIterator[EngineChunk]) -> AsyncIterator[EngineChunk]:
    """The whole text answer is one JSON call; anything that does not parse (cut by max_tokens) stays text."""
    text: list[str] = []
    usage: Usage | None = None
    async for chunk in chunks:
        kind = type(chunk)
        if kind is TextDelta:
            text.append(chunk.text)
        elif kind is Usage:
            usage = chunk
        elif kind is Finish:
            call = parse_call("".join(text))
            if call is not None:
                yield _call_delta(0, *call)
            elif text:
                yield TextDelta("".join(text))
            if usage is not None:
                yield usage
            yield _finish_with_calls(chunk, call is not None)
        else:
            yield chunk


class PromptedCallExtractor:
    """Feed streamed text; get back chunks: text outside calls, one ToolCallDelta per complete call.
    `open_call`: the answer starts inside a call (a prefill opened it), this being its body so far."""

    __slots__ = ("_held", "_inside", "_calls", "_max_calls", "_seen_text", "_prefilled")

    def __init__(self, max_calls: int | None, open_call: str | None = None) -> None:
        self._held = open_call or ""
        self._inside = open_call is not None
        self._calls = 0
        self._max_calls = max_calls
        self._seen_text = False
        # The markup the client already has (its prefill): never sent back, even if the call fails.
        self._prefilled = TOOL_CALL_OPEN + open_call if open_call is not None else ""

    @property
    def call_count(self) -> int:
        return self._calls

    def feed(self, text: str) -> list[EngineChunk]:
        out: list[EngineChunk] = []
        buffer = self._held + text
        while buffer:
            if self._inside:
                at = buffer.find(TOOL_CALL_CLOSE)
                if at == -1:
                    break
                self._inside = False
                self._end_call(buffer[:at], out, closed=True)
                buffer = buffer[at + len(TOOL_CALL_CLOSE):]
                continue
            at = buffer.find(TOOL_CALL_OPEN)
            if at != -1:
                if self._seen_text or buffer[:at].strip():
                    self._text(buffer[:at], out)
                buffer = buffer[at + len(TOOL_CALL_OPEN):]
                self._inside = True
                continue
            keep = _partial_prefix_length(buffer, TOOL_CALL_OPEN)
            cut = len(buffer) - keep
            if not self._seen_text and not buffer[:cut].strip():
                cut = 0  # leading whitespace waits: it may only precede a call
            self._text(buffer[:cut], out)
            buffer = buffer[cut:]
            break
        self._held = buffer
        return out

    def finish(self) -> list[EngineChunk]:
        """At the end: an unclosed call (the model stopped after the JSON) still counts if it parses."""
        out: list[EngineChunk] = []
        held, self._held = self._held, ""
        if self._inside:
            self._inside = False
            self._end_call(held, out, closed=False)
        elif held.strip() or self._seen_text:
            self._text(held, out)
        return out

    def _text(self, text: str, out: list[EngineChunk]) -> None:
        if text and self._calls == 0:
            out.append(TextDelta(text))
            self._seen_text = True

    def _end_call(self, body: str, out: list[EngineChunk], *, closed: bool) -> None:
        call = parse_call(body)
        prefilled, self._prefilled = self._prefilled, ""
        if call is None:
            self._text((TOOL_CALL_OPEN + body)[len(prefilled):] + (TOOL_CALL_CLOSE if closed else ""), out)
        elif self._max_calls is None or self._calls < self._max_calls:
            out.append(_call_delta(self._calls, *call))
            self._calls += 1


def _partial_prefix_length(buffer: str, marker: str) -> int:
    for length in range(min(len(marker) - 1, len(buffer)), 0, -1):
        if marker.startswith(buffer[-length:]):
            return length
    return 0


async def prompted_calls(chunks: AsyncIterator[EngineChunk], max_calls: int | None,
                         open_call: str | None = None) -> AsyncIterator[EngineChunk]:
    extractor = PromptedCallExtractor(max_calls, open_call)
    async for chunk in chunks:
        kind = type(chunk)
        if kind is TextDelta:
            for out in extractor.feed(chunk.text):
                yield out
        elif kind is Usage:
            for out in extractor.finish():
                yield out
            yield chunk
        elif kind is Finish:
            for out in extractor.finish():
                yield out
            yield _finish_with_calls(chunk, extractor.call_count > 0)
        else:
            yield chunk


async def limited_native_calls(chunks: AsyncIterator[EngineChunk], max_calls: int) -> AsyncIterator[EngineChunk]:
    async for chunk in chunks:
        if type(chunk) is ToolCallDelta and chunk.index >= max_calls:
            continue
        yield chunk


async def without_reasoning(chunks: AsyncIterator[EngineChunk]) -> AsyncIterator[EngineChunk]:
    async for chunk in chunks:
        if type(chunk) is not ReasoningDelta:
            yield chunk


async def schema_refusals_named(chunks: AsyncIterator[EngineChunk], owner: str) -> AsyncIterator[EngineChunk]:
    """The engine's refusal of a schema, saying whose schema it was."""
    try:
        async for chunk in chunks:
            yield chunk
    except UnusableSchema as exc:
        raise UnusableSchema(f"{owner}: the engine cannot turn its JSON schema into a grammar "
                             f"({exc.reason})", reason=exc.reason) from None


def decode_tool_calls(chunks: AsyncIterator[EngineChunk], plan: ToolPlan) -> AsyncIterator[EngineChunk]:
    """Wrap an engine stream so tool calls come out as ToolCallDelta whatever the model's template
    (and no thinking comes out when it was turned off)."""
    if plan.schema_owner is not None:
        chunks = schema_refusals_named(chunks, plan.schema_owner)
    if plan.drop_reasoning:
        chunks = without_reasoning(chunks)
    if plan.tool_output == "constrained":
        return constrained_calls(chunks)
    if plan.tool_output == "prompted":
        return prompted_calls(chunks, plan.max_tool_calls, plan.open_call)
    if plan.tool_output == "native" and plan.max_tool_calls is not None:
        return limited_native_calls(chunks, plan.max_tool_calls)
    return chunks
