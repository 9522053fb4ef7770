"""OpenAI request bodies -> the internal requests. Messages keep OpenAI's shapes, which are the
engine's; tools become the shared specs, planned by generation for the runner that serves them."""

from __future__ import annotations

from typing import Any

from modelrunner.core.chat import ChatRequest, CompletionRequest, Sampling
from modelrunner.core.errors import InvalidRequest, Unsupported
from modelrunner.core.tools import ToolingRequest
from modelrunner.dialects.openai import tools as tooling
from modelrunner.dialects.openai.protocol import ChatCompletionsBody, CompletionsBody

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop)
    if len(stops) > 16:
        raise InvalidRequest("stop accepts at most 16 sequences", param="stop")
    return [s for s in stops if s]


def _check_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checked = []
    for position, message in enumerate(messages):
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise InvalidRequest(f"messages[{position}].role must be one of {', '.join(sorted(_ROLES))}",
                                 param=f"messages[{position}].role")
        if role == "developer":
            message = {**message, "role": "system"}
        checked.append(message)
    return checked


def _response_format(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type")
    if kind not in _RESPONSE_FORMATS:
        raise InvalidRequest(f"response_format.type must be one of {', '.join(sorted(_RESPONSE_FORMATS))}",
                             param="response_format")
    if kind == "text":
        return None
    if kind == "json_schema" and not isinstance((value.get("json_schema") or {}).get("schema"), dict):
        raise InvalidRequest("response_format.json_schema.schema must be a JSON schema object",
                             param="response_format")
    return value


def to_chat_request(body: ChatCompletionsBody) -> ToolingRequest:
    if body.n != 1:
        raise Unsupported("n > 1 is not supported: ask for one choice per request", param="n")
    specs = tooling.tool_specs(body.tools)
    choice = tooling.tool_choice(body.tool_choice if specs else None, specs, body.parallel_tool_calls)
    response_format = _response_format(body.response_format)
    if response_format is not None and specs and choice.requires_call:
        raise InvalidRequest("response_format cannot be combined with a tool_choice that forces a tool call",
                             param="response_format")
    chat = ChatRequest(
        model=body.model,
        messages=_check_messages(body.messages),
        sampling=Sampling(
            max_tokens=body.max_completion_tokens or body.max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=body.top_k,
            min_p=body.min_p,
            seed=body.seed,
            stop=_stops(body.stop),
            presence_penalty=body.presence_penalty,
            frequency_penalty=body.frequency_penalty,
        ),
        response_format=response_format,
        keep_alive=None if body.keep_alive is None else str(body.keep_alive),
    )
    return ToolingRequest(chat=chat, tools=specs, tool_choice=choice)


def to_completion_request(body: CompletionsBody) -> CompletionRequest:
    if body.n != 1:
        raise Unsupported("n > 1 is not supported: ask for one choice per request", param="n")
    prompt = body.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise Unsupported("send one prompt per request", param="prompt")
        prompt = prompt[0]
    return CompletionRequest(
        model=body.model,
        prompt=prompt,
        sampling=Sampling(
            max_tokens=body.max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=body.top_k,
            seed=body.seed,
            stop=_stops(body.stop),
        ),
        keep_alive=None if body.keep_alive is None else str(body.keep_alive),
    )
