"""Tool names must be unique in a request, on every API, with each API's word for a tool."""

from __future__ import annotations

import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.dialects.anthropic.tools import tool_specs as anthropic_tool_specs
from modelrunner.dialects.openai.tools import tool_specs as openai_tool_specs

SCHEMA = {"type": "object", "properties": {}}


def test_a_repeated_anthropic_tool_name_is_refused() -> None:
    tool = {"name": "look", "input_schema": SCHEMA}
    with pytest.raises(InvalidRequest, match="tool names must be unique, 'look' is repeated"):
        anthropic_tool_specs([tool, {"name": "other", "input_schema": SCHEMA}, tool])


def test_a_repeated_openai_function_name_is_refused() -> None:
    tool = {"type": "function", "function": {"name": "look", "parameters": SCHEMA}}
    with pytest.raises(InvalidRequest, match="function names must be unique, 'look' is repeated"):
        openai_tool_specs([tool, tool])


def test_distinct_names_pass_in_order() -> None:
    specs = openai_tool_specs([{"type": "function", "function": {"name": name, "parameters": SCHEMA}}
                               for name in ("a", "b")])
    assert [spec.name for spec in specs] == ["a", "b"]
