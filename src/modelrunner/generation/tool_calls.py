"""Tool calls out of engine chunks, for models whose calls the engine does not parse itself.

`ConstrainedCall` turns a grammar-constrained JSON answer (`{"name", "input"}`) into one call;
`PromptedCallExtractor` finds `<tool_call>{...}</tool_call>` in streamed text, holding back text that
may be the start of a call so no piece of the markup ever reaches the client.
"""

from __future__ import annotations

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


class ConstrainedCall:
    """The whole text answer is one JSON call; anything that does not parse (cut by max_tokens) stays text."""

    __slots__ = ("_text", "_usage")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._usage: Usage | None = None

    def feed(self, chunk: EngineChunk) -> list[EngineChunk]:
        kind = type(chunk)
        if kind is TextDelta:
            self._text.append(chunk.text)  # type: ignore[union-attr]
            return []
        if kind is Usage:
            self._usage = chunk  # type: ignore[assignment]
            return []
        if kind is not Finish:
            return [chunk]
        text = "".join(self._text)
        call = parse_call(text)
        out: list[EngineChunk] = [_call_delta(0, *call)] if call is not None else [TextDelta(text)] if text else []
        if self._usage is not None:
            out.append(self._usage)
        out.append(_finish_with_calls(chunk, call is not None))  # type: ignore[arg-type]
        return out


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


class PromptedCalls:
    """`<tool_call>` markup in the answer's text becomes ToolCallDelta (see PromptedCallExtractor)."""

    __slots__ = ("_extractor",)

    def __init__(self, max_calls: int | None, open_call: str | None = None) -> None:
        self._extractor = PromptedCallExtractor(max_calls, open_call)

    def feed(self, chunk: EngineChunk) -> list[EngineChunk]:
        kind = type(chunk)
        if kind is TextDelta:
            return self._extractor.feed(chunk.text)  # type: ignore[union-attr]
        if kind is Usage:
            return [*self._extractor.finish(), chunk]
        if kind is Finish:
            held = self._extractor.finish()
            return [*held, _finish_with_calls(chunk, self._extractor.call_count > 0)]  # type: ignore[arg-type]
        return [chunk]


class NativeCallLimit:
    """At most `max_calls` of the calls the engine parsed itself."""

    __slots__ = ("_max_calls",)

    def __init__(self, max_calls: int) -> None:
        self._max_calls = max_calls

    def feed(self, chunk: EngineChunk) -> list[EngineChunk]:
        if type(chunk) is ToolCallDelta and chunk.index >= self._max_calls:  # type: ignore[union-attr]
            return []
        return [chunk]


CallDecoder = ConstrainedCall | PromptedCalls | NativeCallLimit


class ToolCallDecoder:
    """Turns an engine's chunks into chunks whose tool calls are ToolCallDelta whatever the model's
    template, with no thinking when it was turned off. Fed one engine chunk at a time, it gives back the
    chunks to pass on (none while it holds text that may be a call)."""

    __slots__ = ("_calls", "_drop_reasoning", "_schema_owner")

    def __init__(self, calls: CallDecoder | None, *, drop_reasoning: bool, schema_owner: str | None) -> None:
        self._calls = calls
        self._drop_reasoning = drop_reasoning
        self._schema_owner = schema_owner

    def feed(self, chunk: EngineChunk) -> list[EngineChunk]:
        if self._drop_reasoning and type(chunk) is ReasoningDelta:
            return []
        return [chunk] if self._calls is None else self._calls.feed(chunk)

    def refusal(self, exc: UnusableSchema) -> UnusableSchema:
        """The engine's refusal of a schema, saying whose schema it was."""
        if self._schema_owner is None:
            return exc
        return UnusableSchema(f"{self._schema_owner}: the engine cannot turn its JSON schema into a grammar "
                              f"({exc.reason})", reason=exc.reason)


def _call_decoder(plan: ToolPlan) -> CallDecoder | None:
    if plan.tool_output == "constrained":
        return ConstrainedCall()
    if plan.tool_output == "prompted":
        return PromptedCalls(plan.max_tool_calls, plan.open_call)
    if plan.tool_output == "native" and plan.max_tool_calls is not None:
        return NativeCallLimit(plan.max_tool_calls)
    return None


def tool_call_decoder(plan: ToolPlan) -> ToolCallDecoder | None:
    """The decoder for the answer to the plan's engine request, or None where its chunks pass unchanged."""
    calls = _call_decoder(plan)
    if calls is None and not plan.drop_reasoning and plan.schema_owner is None:
        return None
    return ToolCallDecoder(calls, drop_reasoning=plan.drop_reasoning, schema_owner=plan.schema_owner)
