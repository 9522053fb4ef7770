"""Two small tools the SDK tests offer models: one with an enum, one with bounded integers."""

from __future__ import annotations

CITY_TOOL = {"name": "get_weather", "description": "Get the current weather in a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                              "required": ["city"]}}
ADD_TOOL = {"name": "add", "description": "Add two small numbers",
            "input_schema": {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 9},
                                                              "b": {"type": "integer", "minimum": 0, "maximum": 9}},
                             "required": ["a", "b"]}}
TOOLS = [CITY_TOOL, ADD_TOOL]
GREEDY = {"temperature": 0}  # the newest SDK takes sampling parameters through extra_body
SCHEMAS = {tool["name"]: tool["input_schema"] for tool in TOOLS}
