"""A whole answer -> a non-streaming Anthropic Message."""

from __future__ import annotations

from typing import Any

import orjson

from modelrunner.core.answer import CompletedAnswer
from modelrunner.dialects.anthropic.ids import message_id, thinking_signature, tool_use_id
from modelrunner.dialects.anthropic.normalize import as_json_object
from modelrunner.dialects.anthropic.stop_reasons import stop_reason, usage_object


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        return as_json_object(orjson.loads(arguments)) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        return {}


def message(answer: CompletedAnswer, *, model: str) -> dict[str, Any]:
    """Content in Anthropic's order: thinking, text, tool_use."""
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        content.append({"type": "thinking", "thinking": answer.reasoning, "signature": thinking_signature()})
    if answer.text:
        content.append({"type": "text", "text": answer.text})
    for call in answer.tool_calls:
        content.append({"type": "tool_use", "id": tool_use_id(), "name": call.name,
                        "input": _tool_input(call.arguments)})
    usage = answer.usage
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(answer.finish, has_tool_use=bool(answer.tool_calls)),
        "stop_sequence": answer.finish.stop_sequence,
        "usage": usage_object(usage.prompt_tokens, usage.cached_prompt_tokens, usage.completion_tokens),
    }
