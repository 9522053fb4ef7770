"""Anthropic Messages requests -> the internal ChatRequest.

In two steps because one fact is only known once the model is loaded: whether its chat template
renders tools. `prepare` validates and normalises (before any byte is sent, so mistakes are 400s);
`to_chat_request` then picks how tools reach the model and how calls come back.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from modelrunner.core.chat import ChatRequest, Message, Sampling, ToolCallConstraint
from modelrunner.core.errors import InvalidRequest
from modelrunner.dialects.anthropic import tools as tooling
from modelrunner.dialects.anthropic.normalize import (
    Conversation,
    Turn,
    as_json_object,
    normalize_conversation,
    text_block,
)
from modelrunner.dialects.anthropic.protocol import Block, CountTokensBody, MessagesBody

MAX_STOP_SEQUENCES = 16
FORCED_CALL_THINKING_BUDGET = 1
"""Reasoning tokens allowed before a forced call or with thinking disabled, for templates that open
thinking themselves (DeepSeek-R1 distills): past it llama.cpp closes the think block."""

ToolOutput = Literal["text", "native", "prompted", "constrained"]
"""How tool calls come back: not at all, parsed by the engine, parsed from `<tool_call>` text by us,
or as the whole constrained JSON answer."""


@dataclass(frozen=True)
class PreparedMessages:
    """A validated, normalised request, waiting only for what the loaded model can do."""

    model: str
    conversation: Conversation
    tools: list[tooling.ToolSpec]
    tool_choice: tooling.ToolChoice
    sampling: Sampling
    reasoning: bool | None
    reasoning_budget_tokens: int | None
    response_format: dict[str, Any] | None


@dataclass(frozen=True)
class Translation:
    """`open_call`: with prompted tools, the start of a call body that a prefill left open (often
    ""): the answer continues inside that call."""

    chat: ChatRequest
    tool_output: ToolOutput
    max_tool_calls: int | None
    open_call: str | None = None
    drop_reasoning: bool = False
    """Thinking was turned off, yet a template that opens it itself still reasons a token: not sent."""


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
    return tooling.json_schema_format(fmt["schema"], "output")


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
        # Both are a JSON grammar from the answer's first token; llama.cpp would feed the prefill through
        # it and fail with an opaque "Failed to initialize samplers".
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
    return any(isinstance(message.get("content"), list)
               and any(part.get("type") == "image_url" for part in message["content"])
               for message in chat.messages)


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


_ID_ALPHABET = string.digits + string.ascii_letters
ENGINE_TOOL_ID_LENGTH = 9


def engine_tool_id(tool_use_id: str) -> str:
    """The id a chat template sees for a tool call: 9 alphanumerics derived from the client's id.
    Mistral's templates refuse any other form, and the others do not care; derived rather than random,
    so the same history renders the same prompt turn after turn (and stays in the prefix cache).
    Answers never carry it back: every call the model makes gets a fresh `toolu_` id."""
    value = int.from_bytes(hashlib.sha256(tool_use_id.encode()).digest()[:8], "big")
    digits = []
    for _ in range(ENGINE_TOOL_ID_LENGTH):
        value, digit = divmod(value, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return "".join(digits)


def one_call_per_turn(messages: list[Message]) -> list[Message]:
    """Split each assistant turn with several tool calls into one turn per call, each followed by its
    result, for templates that render a single call per turn (Llama 3.x raises otherwise)."""
    out: list[Message] = []
    position = 0
    while position < len(messages):
        message = messages[position]
        calls = message.get("tool_calls") or []
        position += 1
        if message["role"] != "assistant" or len(calls) < 2:
            out.append(message)
            continue
        results: dict[str, Message] = {}
        while position < len(messages) and messages[position]["role"] == "tool":
            results[messages[position]["tool_call_id"]] = messages[position]
            position += 1
        for number, call in enumerate(calls):
            out.append({"role": "assistant", "content": message["content"] if number == 0 else "",
                        "tool_calls": [call]})
            if call["id"] in results:
                out.append(results.pop(call["id"]))
        out.extend(results.values())
    return out


class _MessageBuilder:
    """Renders turns as engine messages, with tool calls and results native or as text."""

    def __init__(self, native_tools: bool) -> None:
        self.native_tools = native_tools
        self.messages: list[Message] = []

    def assistant(self, turn: Turn) -> None:
        text = _joined_text(turn.blocks)
        calls = [b for b in turn.blocks if b.get("type") == "tool_use"]
        if not self.native_tools:
            pieces = [text] if text else []
            pieces += [tooling.tool_call_text(c["name"], as_json_object(c.get("input"))) for c in calls]
            self.messages.append({"role": "assistant", "content": "\n".join(pieces)})
            return
        message: Message = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = [
                {"id": engine_tool_id(str(c.get("id") or f"toolu_{n}")), "type": "function",
                 "function": {"name": c["name"], "arguments": orjson.dumps(as_json_object(c.get("input"))).decode()}}
                for n, c in enumerate(calls)
            ]
        self.messages.append(message)

    def user(self, turn: Turn) -> None:
        """Tool results first (they answer the assistant turn just before), then the rest of the turn."""
        results = [b for b in turn.blocks if b.get("type") == "tool_result"]
        rest = [b for b in turn.blocks if b.get("type") in ("text", "image")]
        result_images: list[Block] = []
        result_texts: list[str] = []
        for result in results:
            text = _joined_text(result["content"])
            result_images += [b for b in result["content"] if b.get("type") == "image"]
            if self.native_tools:
                shown = f"Error: {text}" if result["is_error"] else text
                self.messages.append({"role": "tool", "tool_call_id": engine_tool_id(result["tool_use_id"]),
                                      "content": shown})
            else:
                result_texts.append(tooling.tool_result_text(result["tool_use_id"], text, result["is_error"]))
        rest = [*(text_block(t) for t in result_texts), *result_images, *rest]
        if rest:
            self.messages.append({"role": "user", "content": _user_content(rest)})


def _tool_output(prepared: PreparedMessages, native_tools: bool) -> ToolOutput:
    choice = prepared.tool_choice
    if not prepared.tools or choice.kind == "none":
        return "text"
    if choice.requires_call:
        return "constrained"
    return "native" if native_tools else "prompted"


def _open_call(messages: list[Message], is_prefill: bool) -> str | None:
    """What follows the last `<tool_call>` of a prefill that does not close it, else None."""
    if not is_prefill or not messages or messages[-1]["role"] != "assistant":
        return None
    text = messages[-1]["content"]
    at = text.rfind(tooling.TOOL_CALL_OPEN)
    if at == -1 or tooling.TOOL_CALL_CLOSE in text[at:]:
        return None
    return text[at + len(tooling.TOOL_CALL_OPEN):]


def _strict_constraint(prepared: PreparedMessages, open_call: str | None,
                       max_calls: int | None) -> ToolCallConstraint | None:
    """Prompted calls of strict tools are constrained from their `<tool_call>` on; the text around
    them stays free. A prefill that left a call half written cannot be: a JSON schema cannot take
    over in the middle of a document, so that call's input goes unchecked.

    With a template that renders tools this is llama.cpp's own work: its tool-call grammar
    (common/chat.cpp, lazy under tool_choice auto, triggered by the format's call opener) holds
    every call's arguments to that tool's parameters, strict or not."""
    if not any(spec.strict for spec in prepared.tools):
        return None
    if open_call is not None and open_call.strip():
        return None
    return ToolCallConstraint(open=tooling.TOOL_CALL_OPEN, close=tooling.TOOL_CALL_CLOSE,
                              call_schema=tooling.strict_call_schema(prepared.tools), max_calls=max_calls,
                              opened=open_call is not None)


def has_parallel_calls(prepared: PreparedMessages) -> bool:
    """Whether an assistant turn of the conversation holds more than one tool call."""
    return any(turn.role == "assistant" and sum(b.get("type") == "tool_use" for b in turn.blocks) > 1
               for turn in prepared.conversation.turns)


def to_chat_request(prepared: PreparedMessages, *, native_tools: bool,
                    parallel_calls: bool = True) -> Translation:
    """`native_tools`: the model's chat template renders tools, so the engine describes and parses them.
    `parallel_calls`: it renders several calls in one assistant turn (else each gets a turn of its own)."""
    native = native_tools and bool(prepared.tools)
    output = _tool_output(prepared, native)
    system = list(prepared.conversation.system)
    if prepared.tools and not native:
        system.append(tooling.tools_prompt(prepared.tools))
    builder = _MessageBuilder(native)
    if system:
        builder.messages.append({"role": "system", "content": "\n\n".join(system)})
    for turn in prepared.conversation.turns:
        if turn.role == "assistant":
            builder.assistant(turn)
        else:
            builder.user(turn)
    if native and not parallel_calls:
        builder.messages = one_call_per_turn(builder.messages)
    choice = prepared.tool_choice
    max_calls = 1 if output == "constrained" or not choice.allow_parallel or not parallel_calls else None
    response_format = prepared.response_format
    if output == "constrained":
        response_format = tooling.json_schema_format(tooling.required_call_schema(prepared.tools, choice), "tool_call")
    reasoning, budget = prepared.reasoning, prepared.reasoning_budget_tokens
    if output == "constrained" or reasoning is False:
        # The call or answer starts at once, also where the template opens thinking by itself.
        reasoning, budget = False, FORCED_CALL_THINKING_BUDGET
    open_call = _open_call(builder.messages, prepared.conversation.is_prefill) if output == "prompted" else None
    constraint = _strict_constraint(prepared, open_call, max_calls) if output == "prompted" else None
    chat = ChatRequest(
        model=prepared.model,
        messages=builder.messages,
        sampling=prepared.sampling,
        tools=tooling.engine_tools(prepared.tools) if native else None,
        tool_choice=("auto" if output == "native" else "none") if native else None,
        parallel_tool_calls=choice.allow_parallel and parallel_calls if native else None,
        response_format=response_format,
        tool_call_constraint=constraint,
        reasoning=reasoning,
        reasoning_budget_tokens=budget,
        continue_final_message=prepared.conversation.is_prefill,
    )
    return Translation(chat=chat, tool_output=output, max_tool_calls=max_calls, open_call=open_call,
                       drop_reasoning=reasoning is False)
