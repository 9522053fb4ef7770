"""OpenAI `tools`, `tool_choice` and `parallel_tool_calls` -> the tool specs and choice every API shares."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import InvalidRequest
from modelrunner.core.tools import ToolChoice, ToolSpec, require_unique_names


def _parameters(function: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = function.get("parameters")
    if parameters is None:
        return {"type": "object", "properties": {}}
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        raise InvalidRequest(f"{where}.function.parameters must be a JSON schema of type object",
                             param=f"{where}.function.parameters")
    return {"type": "object", **parameters}


def tool_spec(tool: Any, where: str) -> ToolSpec:
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise InvalidRequest(f"{where}.type must be 'function'", param=f"{where}.type")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise InvalidRequest(f"{where}.function.name is required", param=f"{where}.function.name")
    return ToolSpec(name=function["name"], description=str(function.get("description") or ""),
                    input_schema=_parameters(function, where), strict=function.get("strict") is True)


def tool_specs(tools: list[Any] | None) -> list[ToolSpec]:
    return require_unique_names([tool_spec(tool, f"tools[{position}]") for position, tool in enumerate(tools or [])], "function")


def tool_choice(choice: str | dict[str, Any] | None, specs: list[ToolSpec],
                parallel_tool_calls: bool | None) -> ToolChoice:
    allow_parallel = parallel_tool_calls is not False
    if choice is None or choice == "auto":
        return ToolChoice("auto", allow_parallel=allow_parallel)
    if choice == "none":
        return ToolChoice("none", allow_parallel=allow_parallel)
    if choice == "required":
        return ToolChoice("required", allow_parallel=allow_parallel)
    if isinstance(choice, dict) and choice.get("type", "function") == "function":
        name = (choice.get("function") or {}).get("name")
        if not isinstance(name, str) or name not in {spec.name for spec in specs}:
            raise InvalidRequest(f"tool_choice.function.name: no function named {name!r} in tools",
                                 param="tool_choice")
        return ToolChoice("named", name=name, allow_parallel=allow_parallel)
    raise InvalidRequest("tool_choice must be 'none', 'auto', 'required' or "
                         '{"type": "function", "function": {"name": ...}}', param="tool_choice")
