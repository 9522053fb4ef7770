"""Engine chunks -> Anthropic SSE events (`event: NAME\\ndata: JSON\\n\\n`).

A small state machine that keeps the grammar the SDKs rely on: `message_start` first, content blocks
with contiguous indices and one open at a time (a new kind of output closes the open block), thinking
blocks closed by a `signature_delta`, tool_use blocks started with `"input": {}`, then `message_delta`
and `message_stop`. Per-token events are built from precomputed byte prefixes.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from modelrunner.dialects.anthropic.ids import message_id, thinking_signature, tool_use_id
from modelrunner.dialects.anthropic.stop_reasons import stop_reason, usage_object

PING_EVENT = b'event: ping\ndata: {"type":"ping"}\n\n'
_DELTA_END = b"}}\n\n"


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def error_event(envelope: dict[str, Any]) -> bytes:
    return sse_event("error", envelope)


def _delta_prefix(index: int, delta_type: str, field: str) -> bytes:
    return (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":' + str(index).encode()
            + b',"delta":{"type":"' + delta_type.encode() + b'","' + field.encode() + b'":')


class MessageStreamEncoder:
    """Feed engine chunks in order; each call returns the bytes to send (possibly none)."""

    def __init__(self, model: str, *, id: str | None = None, input_tokens: int | None = None) -> None:
        """`input_tokens`: the prompt's tokens when they were counted before the stream (message_start
        tells them; the final message_delta has the full usage, cache split included)."""
        self.model = model
        self._input_tokens = input_tokens or 0
        self.id = id or message_id()
        self._index = -1
        self._open: str | None = None
        self._prefix = b""
        self._tool_index: int | None = None
        self._tool_has_input = False
        self._started_tools: set[int] = set()
        self._usage: Usage | None = None
        self.is_finished = False

    @property
    def has_tool_use(self) -> bool:
        return bool(self._started_tools)

    def message_start(self) -> bytes:
        return sse_event("message_start", {"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage_object(self._input_tokens, 0, 0),
        }})

    def feed(self, chunk: EngineChunk) -> bytes:
        kind = type(chunk)
        if kind is TextDelta:
            if not chunk.text:
                return b""
            opened = b"" if self._open == "text" else self._start("text", {"type": "text", "text": ""},
                                                                    "text_delta", "text")
            return opened + self._prefix + orjson.dumps(chunk.text) + _DELTA_END
        if kind is ReasoningDelta:
            if not chunk.text:
                return b""
            opened = b"" if self._open == "thinking" else self._start(
                "thinking", {"type": "thinking", "thinking": "", "signature": ""}, "thinking_delta", "thinking")
            return opened + self._prefix + orjson.dumps(chunk.text) + _DELTA_END
        if kind is ToolCallDelta:
            return self._tool_call(chunk)
        if kind is Usage:
            self._usage = chunk
            return b""
        if kind is Finish:
            return self._finish(chunk)
        return b""

    def _tool_call(self, chunk: ToolCallDelta) -> bytes:
        opened = b""
        if not (self._open == "tool_use" and self._tool_index == chunk.index):
            if chunk.index in self._started_tools:
                return b""  # arguments for a call already closed: the grammar allows no reopening
            self._started_tools.add(chunk.index)
            opened = self._start("tool_use", {"type": "tool_use", "id": tool_use_id(), "name": chunk.name or "",
                                              "input": {}}, "input_json_delta", "partial_json")
            self._tool_index = chunk.index
            self._tool_has_input = False
        if not chunk.arguments:
            return opened
        self._tool_has_input = True
        return opened + self._prefix + orjson.dumps(chunk.arguments) + _DELTA_END

    def _start(self, kind: str, block: dict[str, Any], delta_type: str, field: str) -> bytes:
        closed = self._close()
        self._index += 1
        self._open = kind
        self._prefix = _delta_prefix(self._index, delta_type, field)
        return closed + sse_event("content_block_start",
                                  {"type": "content_block_start", "index": self._index, "content_block": block})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        out = b""
        if self._open == "thinking":
            out = sse_event("content_block_delta", {"type": "content_block_delta", "index": self._index,
                                                    "delta": {"type": "signature_delta",
                                                              "signature": thinking_signature()}})
        elif self._open == "tool_use" and not self._tool_has_input:
            out = self._prefix + b'"{}"' + _DELTA_END
        self._open = None
        return out + sse_event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _finish(self, finish: Finish) -> bytes:
        if self.is_finished:
            return b""
        self.is_finished = True
        usage = self._usage or Usage(0, 0)
        return self._close() + sse_event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(finish, has_tool_use=self.has_tool_use),
                      "stop_sequence": finish.stop_sequence},
            "usage": usage_object(usage.prompt_tokens, usage.cached_prompt_tokens, usage.completion_tokens),
        }) + sse_event("message_stop", {"type": "message_stop"})
