"""Engine chunks -> Ollama answers: NDJSON lines while streaming, one object otherwise, both ending
with the `done` object that carries the reason and the token counts and durations (nanoseconds)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

import orjson

from modelrunner.core.answer import CompletedAnswer, ToolCall
from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage

_DONE_REASONS = {"stop": "stop", "tool_calls": "stop", "length": "length", "context_window": "length"}

Piece = Callable[[str, str, list[ToolCall]], dict[str, Any]]
"""(content, thinking, tool calls) -> the part of a line that carries them."""


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _arguments(call: ToolCall) -> Any:
    try:
        return orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        return {}


def chat_piece(content: str, thinking: str, calls: list[ToolCall]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = [{"function": {"name": c.name, "arguments": _arguments(c)}} for c in calls]
    return {"message": message}


def generate_piece(content: str, thinking: str, calls: list[ToolCall]) -> dict[str, Any]:
    piece: dict[str, Any] = {"response": content}
    if thinking:
        piece["thinking"] = thinking
    return piece


class Clock:
    """When the request started and when its first token came, for Ollama's durations."""

    def __init__(self) -> None:
        self.started_ns = time.monotonic_ns()
        self.first_token_ns: int | None = None

    def token(self) -> None:
        if self.first_token_ns is None:
            self.first_token_ns = time.monotonic_ns()

    def done_fields(self, usage: Usage, finish: Finish) -> dict[str, Any]:
        ended = time.monotonic_ns()
        first = self.first_token_ns or ended
        return {
            "done": True,
            "done_reason": _DONE_REASONS[finish.reason],
            "total_duration": ended - self.started_ns,
            "load_duration": 0,
            "prompt_eval_count": usage.prompt_tokens,
            "prompt_eval_duration": first - self.started_ns,
            "eval_count": usage.completion_tokens,
            "eval_duration": ended - first,
        }


def whole(answer: CompletedAnswer, *, model: str, piece: Piece, clock: Clock) -> dict[str, Any]:
    return {"model": model, "created_at": now_rfc3339(),
            **piece(answer.text, answer.reasoning, answer.tool_calls),
            **clock.done_fields(answer.usage, answer.finish)}


async def ndjson_lines(
    chunks: AsyncIterator[EngineChunk], *, model: str, piece: Piece, clock: Clock
) -> AsyncIterator[bytes]:
    """One line per text or thinking delta; tool calls whole, when the answer ends (as Ollama does)."""
    prefix = b'{"model":' + orjson.dumps(model) + b',"created_at":'

    def line(fields: dict[str, Any]) -> bytes:
        return prefix + orjson.dumps(now_rfc3339()) + b"," + orjson.dumps(fields)[1:] + b"\n"

    calls: dict[int, ToolCall] = {}
    usage = Usage(0, 0)
    async for chunk in chunks:
        kind = type(chunk)
        if kind is TextDelta:
            clock.token()
            yield line({**piece(chunk.text, "", []), "done": False})
        elif kind is ReasoningDelta:
            clock.token()
            yield line({**piece("", chunk.text, []), "done": False})
        elif kind is ToolCallDelta:
            clock.token()
            call = calls.setdefault(chunk.index, ToolCall(chunk.id, chunk.name or "", ""))
            call.name = call.name or (chunk.name or "")
            call.arguments += chunk.arguments
        elif kind is Usage:
            usage = chunk
        elif kind is Finish:
            if calls:
                yield line({**piece("", "", [calls[i] for i in sorted(calls)]), "done": False})
            yield line({**piece("", "", []), **clock.done_fields(usage, chunk)})
