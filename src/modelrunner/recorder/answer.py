"""The answer a generation produced, as content blocks (thinking, text, tool_use), whatever the API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from modelrunner.core.chat import EngineChunk, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage


def _tool_input(arguments: str) -> Any:
    try:
        return orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        return arguments  # the model wrote something that is not JSON: show it as it is


def answer_blocks(chunks: Iterable[EngineChunk]) -> dict[str, Any]:
    """Engine chunks reassembled into blocks in the order they came, a new block when the kind changes."""
    blocks: list[dict[str, Any]] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: Finish | None = None
    usage: Usage | None = None
    for chunk in chunks:
        kind = type(chunk)
        if kind is TextDelta or kind is ReasoningDelta:
            block_type, key = ("text", "text") if kind is TextDelta else ("thinking", "thinking")
            if blocks and blocks[-1]["type"] == block_type:
                blocks[-1][key] += chunk.text
            else:
                blocks.append({"type": block_type, key: chunk.text})
        elif kind is ToolCallDelta:
            call = calls.get(chunk.index)
            if call is None:
                call = {"type": "tool_use", "id": chunk.id, "name": chunk.name or "", "arguments": ""}
                calls[chunk.index] = call
                blocks.append(call)
            call["arguments"] += chunk.arguments
            call["id"] = call["id"] or chunk.id
            call["name"] = call["name"] or (chunk.name or "")
        elif kind is Finish:
            finish = chunk
        elif kind is Usage:
            usage = chunk
    for call in calls.values():
        call["input"] = _tool_input(call.pop("arguments"))
    return {
        "content": blocks,
        "stop_reason": finish.reason if finish else None,
        "stop_sequence": finish.stop_sequence if finish else None,
        "usage": None if usage is None else {
            "input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
            "cached_input_tokens": usage.cached_prompt_tokens,
        },
    }
