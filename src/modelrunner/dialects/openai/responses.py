"""Engine chunks -> OpenAI responses: whole objects, and `data:` SSE lines for streams."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelrunner.core.answer import CompletedAnswer
from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage

DONE_LINE = b"data: [DONE]\n\n"

_FINISH_REASONS = {"stop": "stop", "length": "length", "context_window": "length", "tool_calls": "tool_calls"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def finish_reason(finish: Finish) -> str:
    return _FINISH_REASONS[finish.reason]


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
    }


def chat_completion(answer: CompletedAnswer, *, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text or (None if answer.tool_calls else "")}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": call.id or new_id("call"), "type": "function",
             "function": {"name": call.name, "arguments": call.arguments or "{}"}}
            for call in answer.tool_calls
        ]
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(answer.finish), "logprobs": None}],
        "usage": usage_object(answer.usage),
    }


def text_completion(answer: CompletedAnswer, *, model: str) -> dict[str, Any]:
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": answer.text, "finish_reason": finish_reason(answer.finish), "logprobs": None}],
        "usage": usage_object(answer.usage),
    }


async def chat_completion_events(
    chunks: AsyncIterator[EngineChunk], *, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """The SSE body of a streamed chat completion, ending with `data: [DONE]`."""
    shell = {"id": new_id("chatcmpl"), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    prefix = orjson.dumps(shell)[:-1] + b',"choices":[{"index":0,"delta":'

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return b"data: " + prefix + orjson.dumps(delta) + b',"finish_reason":' + orjson.dumps(finish) + b"}]}\n\n"

    yield event({"role": "assistant", "content": ""})
    usage: Usage | None = None
    tool_ids: dict[int, str] = {}
    async for chunk in chunks:
        kind = type(chunk)
        if kind is TextDelta:
            yield event({"content": chunk.text})
        elif kind is ReasoningDelta:
            yield event({"reasoning_content": chunk.text})
        elif kind is ToolCallDelta:
            call: dict[str, Any] = {"index": chunk.index}
            if chunk.index not in tool_ids:
                tool_ids[chunk.index] = chunk.id or new_id("call")
                call["id"] = tool_ids[chunk.index]
                call["type"] = "function"
                call["function"] = {"name": chunk.name or "", "arguments": chunk.arguments}
            else:
                call["function"] = {"arguments": chunk.arguments}
            yield event({"tool_calls": [call]})
        elif kind is Usage:
            usage = chunk
        elif kind is Finish:
            yield event({}, finish_reason(chunk))
    if include_usage and usage is not None:
        yield b"data: " + orjson.dumps({**shell, "choices": [], "usage": usage_object(usage)}) + b"\n\n"
    yield DONE_LINE


async def text_completion_events(
    chunks: AsyncIterator[EngineChunk], *, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    shell = {"id": new_id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": model}
    usage: Usage | None = None
    async for chunk in chunks:
        kind = type(chunk)
        if kind is TextDelta:
            choice = {"index": 0, "text": chunk.text, "finish_reason": None, "logprobs": None}
            yield b"data: " + orjson.dumps({**shell, "choices": [choice]}) + b"\n\n"
        elif kind is Usage:
            usage = chunk
        elif kind is Finish:
            choice = {"index": 0, "text": "", "finish_reason": finish_reason(chunk), "logprobs": None}
            yield b"data: " + orjson.dumps({**shell, "choices": [choice]}) + b"\n\n"
    if include_usage and usage is not None:
        yield b"data: " + orjson.dumps({**shell, "choices": [], "usage": usage_object(usage)}) + b"\n\n"
    yield DONE_LINE
