"""Exact prompt token counts from the upstream itself, by kind: llama.cpp's server renders
(`/apply-template`) and tokenises (`/tokenize`); vLLM tokenises a conversation (`/tokenize` with
messages); another modelrunner counts an Anthropic request (`/v1/messages/count_tokens`). Request
bodies only: the runner sends them."""

from __future__ import annotations

from typing import Any

import orjson

from modelrunner.core.chat import ChatRequest


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text_of(message.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = {}
        blocks.append({"type": "tool_use", "id": call.get("id") or "call", "name": function.get("name") or "",
                       "input": arguments if isinstance(arguments, dict) else {}})
    return blocks or [{"type": "text", "text": ""}]


def anthropic_count_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """The Anthropic count_tokens body of a conversation held in OpenAI shapes, for a modelrunner
    upstream: the same conversation, so its own translation and template count it exactly."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
        elif role == "assistant":
            messages.append({"role": "assistant", "content": _assistant_blocks(message)})
        elif role == "tool":
            messages.append({"role": "user", "content": [{"type": "tool_result",
                                                          "tool_use_id": message.get("tool_call_id") or "call",
                                                          "content": _text_of(message.get("content"))}]})
        else:
            messages.append({"role": "user", "content": _text_of(message.get("content"))})
    body: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        body["system"] = "\n\n".join(system)
    if request.tools:
        body["tools"] = [{"name": tool["function"]["name"],
                          "description": tool["function"].get("description") or "",
                          "input_schema": tool["function"].get("parameters") or {"type": "object"}}
                         for tool in request.tools if tool.get("function")]
    return body


def vllm_tokenize_body(request: ChatRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": request.messages, "add_generation_prompt": True}
    if request.tools:
        body["tools"] = request.tools
    return body
