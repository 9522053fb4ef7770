"""Responses requests -> input items (kept for chaining) -> a Messages-shaped conversation.

The conversation is written in the Anthropic Messages shape (system, turns of blocks, tools with
`input_schema`) because that is the shape the shared tool strategy (prompted tools, constrained calls,
structured output) reads; the glue that feeds it lives in `server/responses_generation.py`."""

from __future__ import annotations

from typing import Any

import orjson

from modelrunner.core.errors import InvalidRequest, Unsupported
from modelrunner.dialects.responses.ids import new_id
from modelrunner.core.limits import TEXT_CHARS_MAX
from modelrunner.dialects.responses.protocol import MAX_INPUT_ITEMS, ResponsesBody

Item = dict[str, Any]
DEFAULT_MAX_OUTPUT_TOKENS = 32768
"""Without `max_output_tokens` an answer runs until it ends or fills the context."""
_ITEM_ID_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}
_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "reasoning_text")
_SYSTEM_ROLES = ("system", "developer")


def _text_part(text: str, role: str) -> dict[str, Any]:
    return {"type": "output_text" if role == "assistant" else "input_text", "text": text}


def _message_item(item: Item, where: str) -> Item:
    role = item.get("role")
    if role not in ("user", "assistant", *_SYSTEM_ROLES):
        raise InvalidRequest(f"{where}.role: expected user, assistant, system or developer, got {role!r}",
                             param=f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        content = [_text_part(content, role)]
    if not isinstance(content, list) or not all(isinstance(part, dict) for part in content):
        raise InvalidRequest(f"{where}.content: expected a string or a list of content parts",
                             param=f"{where}.content")
    return {**item, "type": "message", "role": role, "content": content}


def _checked_item(item: Any, where: str) -> Item:
    if not isinstance(item, dict):
        raise InvalidRequest(f"{where}: expected an object", param=where)
    kind = item.get("type") or ("message" if "role" in item else None)
    if kind == "message":
        item = _message_item(item, where)
    elif kind == "function_call":
        if not isinstance(item.get("name"), str) or not isinstance(item.get("call_id"), str):
            raise InvalidRequest(f"{where}: a function_call needs call_id and name", param=where)
        item = {**item, "arguments": item.get("arguments") or "{}"}
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise InvalidRequest(f"{where}: a function_call_output needs call_id", param=where)
    elif kind == "reasoning":
        pass
    elif kind == "item_reference":
        raise Unsupported(f"{where}: item_reference is not supported; use previous_response_id")
    else:
        raise Unsupported(f"{where}: input items of type {kind!r} are not supported")
    return {"id": item.get("id") or new_id(_ITEM_ID_PREFIXES[kind]), **item, "type": kind}


def input_items(body: ResponsesBody) -> list[Item]:
    """This request's input as items, each with an id, as `input_items` lists them."""
    limit, unit = (TEXT_CHARS_MAX, "characters") if isinstance(body.input, str) else (MAX_INPUT_ITEMS, "items")
    if len(body.input) > limit:
        raise InvalidRequest(f"input: at most {limit} {unit}, got {len(body.input)}", param="input")
    if isinstance(body.input, str):
        if not body.input:
            return []
        return [{"id": new_id("msg"), "type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": body.input}]}]
    return [_checked_item(item, f"input[{n}]") for n, item in enumerate(body.input)]


def _part_text(part: dict[str, Any]) -> str | None:
    if part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
        return part["text"]
    if part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
        return part["refusal"]
    return None


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise Unsupported("input_image: only image_url (a data: URL or an http(s) URL) is supported")
    if url.startswith("data:") and ";base64," in url:
        media_type, data = url[len("data:"):].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(item: Item) -> list[dict[str, Any]]:
    blocks = []
    for part in item["content"]:
        text = _part_text(part)
        if text is not None:
            if text:
                blocks.append({"type": "text", "text": text})
        elif part.get("type") == "input_image":
            blocks.append(_image_block(part))
        elif part.get("type") in _TEXT_PARTS:
            raise InvalidRequest(f"content parts of type {part['type']!r} need a string `text`", param="input")
        else:
            raise Unsupported(f"content parts of type {part.get('type')!r} are not supported")
    return blocks


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"function_call.arguments is not valid JSON: {str(raw)[:80]!r}") from None
    return value if isinstance(value, dict) else {"value": value}


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(_part_text(part) or "" for part in output if isinstance(part, dict))
    return orjson.dumps(output).decode()


def _conversation(items: list[Item]) -> tuple[list[str], list[dict[str, Any]]]:
    """System texts and Messages turns (consecutive items of one role merged into one turn)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    for item in items:
        kind = item["type"]
        if kind == "message" and item["role"] in _SYSTEM_ROLES:
            system.extend(block["text"] for block in _blocks(item) if block["type"] == "text")
        elif kind == "message":
            add(item["role"], _blocks(item))
        elif kind == "function_call":
            add("assistant", [{"type": "tool_use", "id": item["call_id"], "name": item["name"],
                               "input": _arguments(item.get("arguments"))}])
        elif kind == "function_call_output":
            add("user", [{"type": "tool_result", "tool_use_id": item["call_id"],
                          "content": _output_text(item.get("output")) or "(empty)"}])
    return system, turns


def _tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    converted = []
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"tools[{n}]: expected an object", param=f"tools[{n}]")
        if tool.get("type") != "function":
            continue  # hosted and custom tools (web_search, namespace, custom...) are OpenAI's to run: not offered
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise InvalidRequest(f"tools[{n}].name: a function tool needs a name", param=f"tools[{n}].name")
        if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
            raise InvalidRequest(f"tools[{n}].parameters: expected a JSON schema object",
                                 param=f"tools[{n}].parameters")
        spec: dict[str, Any] = {"name": tool["name"],
                                "input_schema": tool.get("parameters") or {"type": "object", "properties": {}}}
        if tool.get("description"):
            spec["description"] = tool["description"]
        if tool.get("strict"):
            spec["strict"] = True
        converted.append(spec)
    return converted or None


def _tool_choice(choice: str | dict[str, Any] | None, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if choice is None or choice == "auto":
        converted: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        converted = {"type": "any"}
    elif choice == "none":
        converted = {"type": "none"}
    elif isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        converted = {"type": "tool", "name": choice["name"]}
    else:
        raise InvalidRequest(f"tool_choice: expected auto, required, none or a function, got {choice!r}",
                             param="tool_choice")
    if parallel is False and converted["type"] != "none":
        converted["disable_parallel_tool_use"] = True
    return converted


def _output_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
    if fmt is not None and not isinstance(fmt, dict):
        raise InvalidRequest("text.format: expected an object such as {\"type\": \"json_schema\", \"schema\": ...}",
                             param="text.format")
    if not fmt or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return {"format": {"type": "json_schema", "schema": fmt["schema"]}}
    raise InvalidRequest("text.format: expected text, json_object or {\"type\": \"json_schema\", \"schema\": ...}",
                         param="text.format")


def _thinking(reasoning: dict[str, Any] | None) -> dict[str, Any] | None:
    effort = (reasoning or {}).get("effort")
    if effort == "none":
        return {"type": "disabled"}
    return None


def messages_body(body: ResponsesBody, conversation: list[Item]) -> dict[str, Any]:
    """The whole conversation (earlier responses' items, then this request's) in the Messages shape."""
    system, turns = _conversation(conversation)
    if body.instructions:
        system.insert(0, body.instructions)
    if not turns:
        raise InvalidRequest("input: at least one user message or function_call_output is required",
                             param="input")
    document: dict[str, Any] = {
        "model": body.model,
        "messages": turns,
        "max_tokens": body.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
    }
    optional = {
        "system": "\n\n".join(system) or None,
        "tools": _tools(body.tools),
        "tool_choice": _tool_choice(body.tool_choice, body.parallel_tool_calls) if body.tools else None,
        "output_config": _output_format(body.text),
        "thinking": _thinking(body.reasoning),
        "temperature": body.temperature,
        "top_p": body.top_p,
    }
    document.update({key: value for key, value in optional.items() if value is not None})
    return document
