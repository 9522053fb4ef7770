"""Tools written into the prompt, for a model whose chat template cannot render them: their
description, calls and results as text, and the JSON schema of a valid call, which constrains decoding
when a call is required and, for strict tools, whenever the model writes a call."""

from __future__ import annotations

from typing import Any

import orjson

from modelrunner.core.tools import ToolChoice, ToolSpec

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"


def engine_tools(specs: list[ToolSpec]) -> list[dict[str, Any]]:
    """Engine (OpenAI-shaped) function tools, for a template that renders tools."""
    return [{"type": "function", "function": {"name": spec.name, "description": spec.description,
                                              "parameters": spec.input_schema}} for spec in specs]


def tools_prompt(specs: list[ToolSpec]) -> str:
    """The tool description for a template that cannot render tools. Deterministic for the same tools,
    so the system prompt prefix stays cacheable across turns."""
    listed = "\n".join(
        orjson.dumps({"name": s.name, "description": s.description, "input_schema": s.input_schema}).decode()
        for s in specs
    )
    return (
        "# Tools\n\nYou can call these tools, each described by its name, description and input_schema:\n"
        f"<tools>\n{listed}\n</tools>\n\n"
        "To call a tool, answer with the call in exactly this form and stop:\n"
        f'{TOOL_CALL_OPEN}{{"name": "TOOL_NAME", "input": {{...arguments...}}}}{TOOL_CALL_CLOSE}\n'
        "Each result comes back to you in a <tool_result> block."
    )


def tool_call_text(name: str, tool_input: dict[str, Any]) -> str:
    return TOOL_CALL_OPEN + orjson.dumps({"name": name, "input": tool_input}).decode() + TOOL_CALL_CLOSE


def tool_result_text(tool_use_id: str, text: str, is_error: bool) -> str:
    error = ' is_error="true"' if is_error else ""
    return f'<tool_result tool_use_id="{tool_use_id}"{error}>\n{text}\n</tool_result>'


_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def _scoped_refs(schema: Any, base: str) -> Any:
    """`schema` with its local `$ref`s ("#...") pointing below `base`: a tool's `#/$defs/X` means its
    own root, which is no longer the root once the schema sits inside a call."""
    if isinstance(schema, list):
        return [_scoped_refs(item, base) for item in schema]
    if not isinstance(schema, dict):
        return schema
    scoped: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str) and value.startswith("#"):
            scoped[key] = base + value[1:]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            scoped[key] = {name: _scoped_refs(sub, base) for name, sub in value.items()}
        elif key in _DATA_KEYWORDS:
            scoped[key] = value
        else:
            scoped[key] = _scoped_refs(value, base)
    return scoped


def _call_schema(inputs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A JSON schema whose every instance is one call `{"name": N, "input": {...}}` of a listed tool.
    An input schema with local `$ref`s moves under `$defs`, its references rewritten to match."""
    definitions: dict[str, Any] = {}
    variants = []
    for position, (name, input_schema) in enumerate(inputs):
        key = f"input_{position}"
        scoped = _scoped_refs(input_schema, f"#/$defs/{key}")
        if scoped != input_schema:
            definitions[key] = scoped
            input_schema = {"$ref": f"#/$defs/{key}"}
        variants.append({"type": "object", "properties": {"name": {"const": name}, "input": input_schema},
                         "required": ["name", "input"], "additionalProperties": False})
    schema = variants[0] if len(variants) == 1 else {"anyOf": variants}
    return {**schema, "$defs": definitions} if definitions else schema


def required_call_schema(specs: list[ToolSpec], choice: ToolChoice) -> dict[str, Any]:
    """One valid call of an offered tool: every tool under `required`, only the named one under `named`."""
    return _call_schema([(s.name, s.input_schema) for s in specs if choice.kind != "named" or s.name == choice.name])


def strict_call_schema(specs: list[ToolSpec]) -> dict[str, Any]:
    """One call of any tool, its input valid for a strict tool and any JSON object for the others
    (their input is not validated, as with Anthropic, so an exotic schema cannot break the call)."""
    return _call_schema([(s.name, s.input_schema if s.strict else {"type": "object"}) for s in specs])


def json_schema_format(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
