"""Anthropic tools and tool_choice -> the tool specs and choice every API shares (how they reach the
model is generation's business). Anthropic-defined client tools (bash, text editor, memory) arrive
without a schema and get one here."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import InvalidRequest, Unsupported
from modelrunner.core.tools import ToolChoice, ToolChoiceKind, ToolSpec, require_unique_names
from modelrunner.dialects.anthropic.protocol import Block

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


_SHARED_KINDS: dict[str, ToolChoiceKind] = {"auto": "auto", "any": "required", "tool": "named", "none": "none"}


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
    return require_unique_names([tool_spec(tool, f"tools.{position}") for position, tool in enumerate(tools or [])], "tool")


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
    return ToolChoice(kind=_SHARED_KINDS[kind], name=name if kind == "tool" else None, allow_parallel=allow_parallel)

