"""Anthropic Messages requests -> the internal request every API shares.

`prepare` validates and normalises (before any byte is sent, so mistakes are 400s); `to_tooling_request`
writes the conversation in the engine's native shapes. How tools then reach the model (rendered by its
template or written into the prompt) is decided by generation, once the runner is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from modelrunner.core.chat import ChatRequest, Message, Sampling, image_parts
from modelrunner.core.errors import InvalidRequest
from modelrunner.core.tools import ToolChoice, ToolingRequest, ToolSpec
from modelrunner.dialects.anthropic import tools as tooling
from modelrunner.dialects.anthropic.normalize import (
    Conversation,
    Turn,
    as_json_object,
    normalize_conversation,
)
from modelrunner.dialects.anthropic.protocol import Block, CountTokensBody, MessagesBody

MAX_STOP_SEQUENCES = 16


@dataclass(frozen=True)
class PreparedMessages:
    """A validated, normalised request, waiting only for what the loaded model can do."""

    model: str
    conversation: Conversation
    tools: list[ToolSpec]
    tool_choice: ToolChoice
    sampling: Sampling
    reasoning: bool | None
    reasoning_budget_tokens: int | None
    response_format: dict[str, Any] | None


def _thinking(thinking: Block | None) -> tuple[bool | None, int | None]:
    if not thinking:
        return None, None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        return True, int(budget) if isinstance(budget, int) else None
    if kind == "disabled":
        return False, None
    return None, None


def _output_format(body: CountTokensBody) -> dict[str, Any] | None:
    """Structured outputs (`output_config.format` or the older `output_format`) -> a JSON-schema constraint."""
    fmt = (body.output_config or {}).get("format") or body.output_format
    if not fmt:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise InvalidRequest("output_config.format: expected {\"type\": \"json_schema\", \"schema\": {...}}",
                             param="output_config.format")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True}}


def _stop_sequences(stops: list[str] | None) -> list[str]:
    stops = [s for s in stops or [] if s]
    if len(stops) > MAX_STOP_SEQUENCES:
        raise InvalidRequest(f"stop_sequences: at most {MAX_STOP_SEQUENCES} are allowed", param="stop_sequences")
    return stops


def prepare(body: CountTokensBody, *, accepts_images: bool) -> PreparedMessages:
    conversation = normalize_conversation(body.system, body.messages, accepts_images=accepts_images)
    if not conversation.turns:
        raise InvalidRequest("messages: at least one message with non-empty content is required", param="messages")
    specs = tooling.tool_specs(body.tools)
    choice = tooling.tool_choice(body.tool_choice, specs)
    reasoning, budget = _thinking(body.thinking)
    response_format = _output_format(body)
    if reasoning and specs and choice.requires_call:
        raise InvalidRequest("Thinking may not be enabled when tool_choice forces tool use.", param="thinking")
    if response_format is not None and specs and choice.requires_call:
        raise InvalidRequest("output_config.format cannot be combined with a tool_choice that forces a tool call",
                             param="output_config.format")
    if conversation.is_prefill and (response_format is not None or (specs and choice.requires_call)):
        # Both are a JSON grammar from the answer's first token; the engine would feed the prefill through
        # it and fail with an opaque error ("Failed to initialize samplers").
        raise InvalidRequest("a prefilled final assistant message cannot be combined with output_config.format "
                             "or with a tool_choice that forces a tool call: that answer starts from scratch",
                             param="messages")
    sampling = Sampling()
    if isinstance(body, MessagesBody):
        sampling = Sampling(max_tokens=body.max_tokens, temperature=body.temperature, top_p=body.top_p,
                            top_k=body.top_k, stop=_stop_sequences(body.stop_sequences))
    return PreparedMessages(model=body.model, conversation=conversation, tools=specs, tool_choice=choice,
                            sampling=sampling, reasoning=reasoning, reasoning_budget_tokens=budget,
                            response_format=response_format)


def _joined_text(blocks: list[Block]) -> str:
    return "\n\n".join(block["text"] for block in blocks if block.get("type") == "text")


def has_images(chat: ChatRequest) -> bool:
    """Whether the engine will see an image part (from a user turn or a tool result)."""
    return bool(image_parts(chat))


def _image_part(block: Block) -> dict[str, Any]:
    source = block["source"]
    if source.get("type") == "url":
        url = str(source.get("url") or "")
    else:
        url = f"data:{source.get('media_type') or 'image/png'};base64,{source.get('data') or ''}"
    return {"type": "image_url", "image_url": {"url": url}}


def _user_content(blocks: list[Block]) -> str | list[dict[str, Any]]:
    if not any(block.get("type") == "image" for block in blocks):
        return _joined_text(blocks)
    return [{"type": "text", "text": b["text"]} if b.get("type") == "text" else _image_part(b) for b in blocks]


def _assistant(turn: Turn) -> Message:
    message: Message = {"role": "assistant", "content": _joined_text(turn.blocks)}
    calls = [b for b in turn.blocks if b.get("type") == "tool_use"]
    if calls:
        message["tool_calls"] = [
            {"id": str(c.get("id") or f"toolu_{n}"), "type": "function",
             "function": {"name": c["name"], "arguments": orjson.dumps(as_json_object(c.get("input"))).decode()}}
            for n, c in enumerate(calls)
        ]
    return message


def _user(turn: Turn) -> list[Message]:
    """Tool results first (they answer the assistant turn just before), then the rest of the turn, with
    the results' images."""
    results = [b for b in turn.blocks if b.get("type") == "tool_result"]
    rest = [b for b in turn.blocks if b.get("type") in ("text", "image")]
    messages: list[Message] = []
    result_images: list[Block] = []
    for result in results:
        result_images += [b for b in result["content"] if b.get("type") == "image"]
        message: Message = {"role": "tool", "tool_call_id": result["tool_use_id"],
                            "content": _joined_text(result["content"])}
        if result["is_error"]:
            message["is_error"] = True
        messages.append(message)
    rest = [*result_images, *rest]
    if rest:
        messages.append({"role": "user", "content": _user_content(rest)})
    return messages


def to_tooling_request(prepared: PreparedMessages) -> ToolingRequest:
    messages: list[Message] = []
    if prepared.conversation.system:
        messages.append({"role": "system", "content": "\n\n".join(prepared.conversation.system)})
    for turn in prepared.conversation.turns:
        if turn.role == "assistant":
            messages.append(_assistant(turn))
        else:
            messages.extend(_user(turn))
    chat = ChatRequest(
        model=prepared.model,
        messages=messages,
        sampling=prepared.sampling,
        response_format=prepared.response_format,
        reasoning=prepared.reasoning,
        reasoning_budget_tokens=prepared.reasoning_budget_tokens,
        continue_final_message=prepared.conversation.is_prefill,
    )
    return ToolingRequest(chat=chat, tools=prepared.tools, tool_choice=prepared.tool_choice)
