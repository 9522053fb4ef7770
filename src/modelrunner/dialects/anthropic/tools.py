"""Anthropic tools -> what a model needs to call them: engine function tools when the chat template
knows tools, otherwise a description in the system prompt; plus the JSON schema of a valid call,
which constrains decoding when a call is required (`tool_choice` any/tool) and, for strict tools,
whenever the model writes a call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from modelrunner.core.errors import InvalidRequest, Unsupported
from modelrunner.dialects.anthropic.protocol import Block

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

_TEXT_EDITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
        "path": {"type": "string"},
        "file_text": {"type": "string"},
        "old_str": {"type": "string"},
        "new_str": {"type": "string"},
        "insert_line": {"type": "integer"},
        "view_range": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["command", "path"],
}
_MEMORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "delete", "rename"]},
        "path": {"type": "string"},
        "file_text": {"type": "string"},
        "old_str": {"type": "string"},
        "new_str": {"type": "string"},
        "insert_line": {"type": "integer"},
        "insert_text": {"type": "string"},
        "old_path": {"type": "string"},
        "new_path": {"type": "string"},
    },
    "required": ["command"],
}
# Anthropic-defined client tools arrive without a schema: (type prefix, default name, description, schema).
_CLIENT_TOOLS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("bash_", "bash", "Run a shell command and return its output.",
     {"type": "object", "properties": {"command": {"type": "string"}, "restart": {"type": "boolean"}}}),
    ("text_editor_", "str_replace_based_edit_tool", "View, create and edit text files.", _TEXT_EDITOR_SCHEMA),
    ("memory_", "memory", "Read and write files in the /memories directory.", _MEMORY_SCHEMA),
)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    strict: bool = False


ToolChoiceKind = Literal["auto", "any", "tool", "none"]


@dataclass(frozen=True)
class ToolChoice:
    kind: ToolChoiceKind = "auto"
    name: str | None = None
    allow_parallel: bool = True

    @property
    def requires_call(self) -> bool:
        return self.kind in ("any", "tool")


def _object_schema(schema: Any, where: str) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise InvalidRequest(f"{where}.input_schema: Field required", param=f"{where}.input_schema")
    if schema.get("type", "object") != "object":
        raise InvalidRequest(f"{where}.input_schema.type: Input should be 'object'", param=f"{where}.input_schema")
    return {"type": "object", **schema}


def tool_spec(tool: Block, where: str) -> ToolSpec:
    kind = tool.get("type")
    name = tool.get("name")
    if kind in (None, "custom"):
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{where}.name: Field required", param=f"{where}.name")
        return ToolSpec(name=name, description=str(tool.get("description") or ""),
                        input_schema=_object_schema(tool.get("input_schema"), where),
                        strict=bool(tool.get("strict")))
    for prefix, default_name, description, schema in _CLIENT_TOOLS:
        if isinstance(kind, str) and kind.startswith(prefix):
            return ToolSpec(name=name if isinstance(name, str) and name else default_name,
                            description=description, input_schema=schema)
    raise Unsupported(f"{where}: tool type {kind!r} is not supported by this runner (server tools such as "
                      "web search and code execution are not run locally; define a custom tool instead)",
                      param=where)


def tool_specs(tools: list[Block] | None) -> list[ToolSpec]:
    specs = [tool_spec(tool, f"tools.{position}") for position, tool in enumerate(tools or [])]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise InvalidRequest(f"tools: tool names must be unique, {spec.name!r} is repeated", param="tools")
        seen.add(spec.name)
    return specs


def tool_choice(choice: Block | None, specs: list[ToolSpec]) -> ToolChoice:
    if choice is None:
        return ToolChoice()
    kind = choice.get("type", "auto")
    if kind not in ("auto", "any", "tool", "none"):
        raise InvalidRequest("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
                             param="tool_choice.type")
    allow_parallel = not choice.get("disable_parallel_tool_use", False)
    name = choice.get("name")
    if kind == "tool" and specs and (not isinstance(name, str) or name not in {spec.name for spec in specs}):
        raise InvalidRequest(f"tool_choice.name: no tool named {name!r} in tools", param="tool_choice.name")
    return ToolChoice(kind=kind, name=name if kind == "tool" else None, allow_parallel=allow_parallel)


def engine_tools(specs: list[ToolSpec]) -> list[dict[str, Any]]:
    """Engine (OpenAI-shaped) function tools."""
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
    """One valid call of an offered tool: every tool under `any`, only the named one under `tool`."""
    return _call_schema([(s.name, s.input_schema) for s in specs if choice.kind != "tool" or s.name == choice.name])


def strict_call_schema(specs: list[ToolSpec]) -> dict[str, Any]:
    """One call of any tool, its input valid for a strict tool and any JSON object for the others
    (their input is not validated, as with Anthropic, so an exotic schema cannot break the call)."""
    return _call_schema([(s.name, s.input_schema if s.strict else {"type": "object"}) for s in specs])


def json_schema_format(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
