"""Ollama request bodies -> the internal requests."""

from __future__ import annotations

from typing import Any

import orjson

from modelrunner.core.chat import ChatRequest, CompletionRequest, Message, Sampling
from modelrunner.core.errors import InvalidRequest
from modelrunner.core.tools import ToolingRequest, ToolSpec
from modelrunner.dialects.ollama.protocol import ChatBody, GenerateBody, Options

_ROLES = frozenset({"system", "user", "assistant", "tool"})


def sampling_from(options: Options | None) -> Sampling:
    if options is None:
        return Sampling()
    stop = [options.stop] if isinstance(options.stop, str) else list(options.stop or [])
    # Ollama's num_predict: -1 is "until done", -2 "until the context is full": both mean no limit here.
    max_tokens = options.num_predict if options.num_predict is not None and options.num_predict > 0 else None
    return Sampling(
        max_tokens=max_tokens,
        temperature=options.temperature,
        top_p=options.top_p,
        top_k=options.top_k,
        min_p=options.min_p,
        seed=options.seed,
        stop=[s for s in stop if s],
        presence_penalty=options.presence_penalty,
        frequency_penalty=options.frequency_penalty,
    )


def response_format_from(value: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """`"json"` -> any JSON object; a schema object -> output constrained to that schema."""
    if value in (None, ""):
        return None
    if value == "json":
        return {"type": "json_object"}
    if isinstance(value, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}
    raise InvalidRequest(f'format must be "json" or a JSON schema object, got {value!r}', param="format")


def keep_alive_from(value: str | int | float | None) -> str | None:
    return None if value is None else str(value)


def _with_images(text: str, images: list[str] | None) -> str | list[dict[str, Any]]:
    if not images:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    parts.extend({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}} for image in images)
    return parts


def _message(position: int, message: dict[str, Any]) -> Message:
    role = message.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise InvalidRequest(f"messages[{position}].role must be one of {', '.join(sorted(_ROLES))}",
                             param=f"messages[{position}].role")
    content = message.get("content") or ""
    if not isinstance(content, str):
        raise InvalidRequest(f"messages[{position}].content must be a string", param=f"messages[{position}].content")
    converted: Message = {"role": role, "content": _with_images(content, message.get("images"))}
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        converted["tool_calls"] = [
            {"id": f"call_{position}_{index}", "type": "function",
             "function": {"name": (call.get("function") or {}).get("name", ""),
                          "arguments": orjson.dumps((call.get("function") or {}).get("arguments") or {}).decode()}}
            for index, call in enumerate(calls)
        ]
    if role == "tool" and message.get("tool_name"):
        converted["name"] = message["tool_name"]
    return converted


def _link_results(messages: list[Message]) -> list[Message]:
    """Ollama's results carry no call id (at most the tool's name): each `tool` message answers the
    first unanswered call of the assistant turn before it with that name, else the first unanswered
    one, and gets that call's id, as templates that pair calls and results by id expect."""
    pending: list[tuple[str, str]] = []  # (id, name) of the calls not answered yet
    linked: list[Message] = []
    for message in messages:
        if message["role"] == "assistant":
            pending = [(call["id"], call["function"]["name"]) for call in message.get("tool_calls") or []]
        elif message["role"] == "tool" and pending:
            answered = next((entry for entry in pending if entry[1] == message.get("name")), pending[0])
            pending.remove(answered)
            message = {**message, "tool_call_id": answered[0]}
        linked.append(message)
    return linked


def _tool_spec(position: int, tool: Any) -> ToolSpec:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise InvalidRequest(f"tools[{position}].function.name is required", param=f"tools[{position}]")
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise InvalidRequest(f"tools[{position}].function.parameters must be a JSON schema object",
                             param=f"tools[{position}]")
    return ToolSpec(name=function["name"], description=str(function.get("description") or ""),
                    input_schema={"type": "object", **parameters})


def to_chat_request(body: ChatBody) -> ToolingRequest:
    """Ollama has no tool_choice: the model calls a tool or answers, as it likes."""
    if not body.messages:
        raise InvalidRequest("messages must not be empty", param="messages")
    chat = ChatRequest(
        model=body.model,
        messages=_link_results([_message(i, m) for i, m in enumerate(body.messages)]),
        sampling=sampling_from(body.options),
        response_format=response_format_from(body.format),
        reasoning=body.think,
        keep_alive=keep_alive_from(body.keep_alive),
    )
    return ToolingRequest(chat=chat, tools=[_tool_spec(i, tool) for i, tool in enumerate(body.tools or [])])


def to_generate_request(body: GenerateBody) -> ToolingRequest | CompletionRequest:
    """`raw` prompts go to the model as they are; others through its chat template, like Ollama."""
    if body.raw:
        if body.images:
            raise InvalidRequest("images need the chat template: leave raw off", param="images")
        return CompletionRequest(model=body.model, prompt=body.prompt, sampling=sampling_from(body.options),
                                 keep_alive=keep_alive_from(body.keep_alive))
    messages: list[Message] = []
    if body.system:
        messages.append({"role": "system", "content": body.system})
    messages.append({"role": "user", "content": _with_images(body.prompt, body.images)})
    return ToolingRequest(chat=ChatRequest(
        model=body.model,
        messages=messages,
        sampling=sampling_from(body.options),
        response_format=response_format_from(body.format),
        reasoning=body.think,
        keep_alive=keep_alive_from(body.keep_alive),
    ))
