"""How a request's tools and structured output reach a model, chosen from what its runner can do.

A template that renders tools gets them natively and the engine parses the calls. Otherwise the tools
are described in the system prompt, calls and results in the conversation are written as
`<tool_call>`/`<tool_result>` text, and the calls the model writes are parsed back by us. A required
or named call is one JSON document constrained by a grammar; strict tools constrain each prompted call.
A structured-output schema is shown to the model as well as enforced, so a small model writes a
plausible object rather than a valid but garbled one. The same plan serves every API.

Model families differ in what their templates accept: Mistral's take only 9-alphanumeric call ids
(`engine_tool_id`), Llama 3.x's render one call per assistant turn (`one_call_per_turn`, when the
runner's probe says so), and templates that open thinking themselves get a 1-token thinking budget
where the answer must start at once (a forced call, or thinking turned off).
"""

from __future__ import annotations

import dataclasses
import hashlib
import string
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from modelrunner.core.chat import ChatRequest, Message, ToolCallConstraint
from modelrunner.core.tools import ToolChoice, ToolingRequest, ToolSpec
from modelrunner.generation import tools as tooling
from modelrunner.generation.schema_check import check_output_schema, check_tool_schemas

FORCED_CALL_THINKING_BUDGET = 1
"""Reasoning tokens allowed before a forced call or with thinking disabled, for templates that open
thinking themselves (DeepSeek-R1 distills): past it llama.cpp closes the think block."""
_ID_ALPHABET = string.digits + string.ascii_letters
ENGINE_TOOL_ID_LENGTH = 9

ToolOutput = Literal["text", "native", "prompted", "constrained"]
"""How tool calls come back: not at all, parsed by the engine, parsed from `<tool_call>` text by us,
or as the whole constrained JSON answer."""


@dataclass(frozen=True)
class ToolPlan:
    """The engine request, and how to read tool calls out of its answer. `open_call`: with prompted
    tools, the start of a call body that a prefill left open (often ""): the answer continues inside it."""

    chat: ChatRequest
    tool_output: ToolOutput
    max_tool_calls: int | None
    open_call: str | None = None
    drop_reasoning: bool = False
    """Thinking was turned off, yet a template that opens it itself still reasons a token: not sent."""
    schema_owner: str | None = None
    """Whose JSON schema the engine compiles into a grammar, in words for an error ("tool 'x'")."""


def _schema_owner(tools: list[ToolSpec], choice: ToolChoice, native: bool,
                  response_format: dict[str, Any] | None) -> str | None:
    """The tools (and output format) whose schemas reach the engine's grammar: all of them when the
    template renders tools; else the named one when a call is named, the strict ones when calls are free."""
    if not native and choice.kind == "named":
        tools = [spec for spec in tools if spec.name == choice.name]
    elif not native and not choice.requires_call:
        tools = [spec for spec in tools if spec.strict]
    names = [repr(spec.name) for spec in tools]
    owners = [f"tool {names[0]}"] if len(names) == 1 else [f"one of the tools {', '.join(names)}"] if names else []
    if response_format is not None and response_format.get("type") == "json_schema":
        owners.append("the output format")
    return " or ".join(owners) or None


def _tool_output(tools: list[ToolSpec], choice: ToolChoice, native: bool) -> ToolOutput:
    if not tools or choice.kind == "none":
        return "text"
    if choice.requires_call:
        return "constrained"
    return "native" if native else "prompted"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n\n".join(str(part.get("text") or "") for part in content
                           if isinstance(part, dict) and part.get("type") == "text")
    return "" if content is None else str(content)


def _arguments_object(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def engine_tool_id(tool_use_id: str) -> str:
    """The id a chat template sees for a tool call: the client's own when it is already 9
    alphanumerics, else 9 derived from it. Mistral's templates refuse any other form, and the others do
    not care; derived rather than random, so the same history renders the same prompt turn after turn
    (and stays in the prefix cache), on every API. Answers never carry it back: every call the model
    makes gets a fresh id."""
    if len(tool_use_id) == ENGINE_TOOL_ID_LENGTH and tool_use_id.isascii() and tool_use_id.isalnum():
        return tool_use_id
    value = int.from_bytes(hashlib.sha256(tool_use_id.encode()).digest()[:8], "big")
    digits = []
    for _ in range(ENGINE_TOOL_ID_LENGTH):
        value, digit = divmod(value, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return "".join(digits)


def has_parallel_calls(messages: list[Message]) -> bool:
    """Whether an assistant turn of the conversation holds more than one tool call."""
    return any(message.get("role") == "assistant" and len(message.get("tool_calls") or []) > 1
               for message in messages)


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
        results: list[Message] = []
        while position < len(messages) and messages[position]["role"] == "tool":
            results.append(messages[position])
            position += 1
        for number, call in enumerate(calls):
            out.append({"role": "assistant", "content": message["content"] if number == 0 else "",
                        "tool_calls": [call]})
            answer = next((result for result in results if result.get("tool_call_id") == call.get("id")), None)
            if answer is not None:
                results.remove(answer)
                out.append(answer)
        out.extend(results)  # results that name no call of the turn keep their place after it
    return out


def _native_messages(messages: list[Message]) -> list[Message]:
    """Calls and results as the template expects them: an error said in the text, and ids every
    template accepts (`engine_tool_id`)."""
    native: list[Message] = []
    for message in messages:
        if message.get("role") == "tool":
            message = dict(message)
            if message.get("tool_call_id") is not None:
                message["tool_call_id"] = engine_tool_id(str(message["tool_call_id"]))
            if message.pop("is_error", False):
                message["content"] = f"Error: {_text_of(message.get('content'))}"
        elif message.get("role") == "assistant" and message.get("tool_calls"):
            message = {**message, "tool_calls": [{**call, "id": engine_tool_id(str(call.get("id") or f"call_{n}"))}
                                                 for n, call in enumerate(message["tool_calls"])]}
        native.append(message)
    return native


def _with_results(results: list[str], user: Message | None) -> Message:
    """Tool results as text, first in the user turn that follows them (they answer the turn before)."""
    if user is None:
        return {"role": "user", "content": "\n\n".join(results)}
    content = user.get("content")
    if isinstance(content, list):
        return {**user, "content": [*({"type": "text", "text": text} for text in results), *content]}
    return {**user, "content": "\n\n".join([*results, _text_of(content)])}


def _prompted_messages(messages: list[Message]) -> list[Message]:
    """Calls and results written as text, for a template that knows nothing of tools."""
    prompted: list[Message] = []
    results: list[str] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            # Ollama's results name their tool, and their ids are made up by us: the name tells the model more.
            call_id = str(message.get("name") or message.get("tool_call_id") or "")
            results.append(tooling.tool_result_text(call_id, _text_of(message.get("content")),
                                                    bool(message.get("is_error"))))
            continue
        if results:
            prompted.append(_with_results(results, message if role == "user" else None))
            results = []
            if role == "user":
                continue
        if role == "assistant" and message.get("tool_calls"):
            text = _text_of(message.get("content"))
            pieces = [text] if text else []
            pieces += [tooling.tool_call_text(str((call.get("function") or {}).get("name") or ""),
                                              _arguments_object((call.get("function") or {}).get("arguments")))
                       for call in message["tool_calls"]]
            prompted.append({"role": "assistant", "content": "\n".join(pieces)})
            continue
        prompted.append(message)
    if results:
        prompted.append(_with_results(results, None))
    return prompted


def _format_hint(response_format: dict[str, Any] | None) -> str | None:
    """What a structured-output constraint asks for, in words the model reads."""
    if response_format is None:
        return None
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return ("# Answer format\n\nAnswer with one JSON object that matches this JSON schema, and nothing else:\n"
                + orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode())
    if response_format.get("type") == "json_object":
        return "# Answer format\n\nAnswer with one JSON object, and nothing else."
    return None


def _with_system(messages: list[Message], additions: list[str]) -> list[Message]:
    """`additions` after the system prompt (one system message), so the prompt's prefix stays cacheable."""
    if not additions:
        return messages
    extra = "\n\n".join(additions)
    if messages and messages[0].get("role") == "system":
        first = messages[0]
        text = _text_of(first.get("content"))
        return [{**first, "content": f"{text}\n\n{extra}" if text else extra}, *messages[1:]]
    return [{"role": "system", "content": extra}, *messages]


def _open_call(messages: list[Message], is_prefill: bool) -> str | None:
    """What follows the last `<tool_call>` of a prefill that does not close it, else None."""
    if not is_prefill or not messages or messages[-1]["role"] != "assistant":
        return None
    text = _text_of(messages[-1]["content"])
    at = text.rfind(tooling.TOOL_CALL_OPEN)
    if at == -1 or tooling.TOOL_CALL_CLOSE in text[at:]:
        return None
    return text[at + len(tooling.TOOL_CALL_OPEN):]


def _strict_constraint(tools: list[ToolSpec], open_call: str | None,
                       max_calls: int | None) -> ToolCallConstraint | None:
    """Prompted calls of strict tools are constrained from their `<tool_call>` on; the text around
    them stays free. A prefill that left a call half written cannot be: a JSON schema cannot take
    over in the middle of a document, so that call's input goes unchecked.

    With a template that renders tools this is llama.cpp's own work: its tool-call grammar
    (common/chat.cpp, lazy under tool_choice auto, triggered by the format's call opener) holds
    every call's arguments to that tool's parameters, strict or not."""
    if not any(spec.strict for spec in tools):
        return None
    if open_call is not None and open_call.strip():
        return None
    return ToolCallConstraint(open=tooling.TOOL_CALL_OPEN, close=tooling.TOOL_CALL_CLOSE,
                              call_schema=tooling.strict_call_schema(tools), max_calls=max_calls,
                              opened=open_call is not None)


def plan_tools(request: ToolingRequest, *, native_tools: bool, parallel_calls: bool = True) -> ToolPlan:
    """`native_tools`: the model's chat template renders tools, so the engine describes and parses them.
    `parallel_calls`: it renders several calls in one assistant turn (else each gets a turn of its own)."""
    chat, tools, choice = request.chat, request.tools, request.tool_choice
    check_tool_schemas(tools)
    if chat.response_format is not None and chat.response_format.get("type") == "json_schema":
        check_output_schema((chat.response_format.get("json_schema") or {}).get("schema"))
    native = native_tools and bool(tools)
    output = _tool_output(tools, choice, native)
    messages = _native_messages(chat.messages) if native else _prompted_messages(chat.messages)
    if native and not parallel_calls:
        messages = one_call_per_turn(messages)
    system: list[str] = []
    if tools and not native:
        system.append(tooling.tools_prompt(tools))
    hint = _format_hint(chat.response_format)
    if hint is not None:
        system.append(hint)
    messages = _with_system(messages, system)
    max_calls = 1 if output == "constrained" or not choice.allow_parallel or not parallel_calls else None
    response_format = chat.response_format
    if output == "constrained":
        response_format = tooling.json_schema_format(tooling.required_call_schema(tools, choice), "tool_call")
    open_call = _open_call(messages, chat.continue_final_message) if output == "prompted" else None
    constraint = _strict_constraint(tools, open_call, max_calls) if output == "prompted" else None
    reasoning, budget = chat.reasoning, chat.reasoning_budget_tokens
    if output == "constrained" or reasoning is False:
        # The call or answer starts at once, also where the template opens thinking by itself.
        reasoning, budget = False, FORCED_CALL_THINKING_BUDGET
    planned = dataclasses.replace(
        chat,
        messages=messages,
        tools=tooling.engine_tools(tools) if native else None,
        tool_choice=("auto" if output == "native" else "none") if native else None,
        parallel_tool_calls=choice.allow_parallel and parallel_calls if native else None,
        response_format=response_format,
        tool_call_constraint=constraint,
        reasoning=reasoning,
        reasoning_budget_tokens=budget,
    )
    return ToolPlan(chat=planned, tool_output=output, max_tool_calls=max_calls, open_call=open_call,
                    drop_reasoning=reasoning is False,
                    schema_owner=_schema_owner(tools, choice, native, chat.response_format))
