"""The schema check that runs before an engine sees a tool's input schema or an output format."""

from __future__ import annotations

from typing import Any

import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.core.tools import ToolSpec
from modelrunner.generation.schema_check import check_tool_schemas, schema_problem


def prop(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"a": schema}, "required": ["a"]}


@pytest.mark.parametrize(("schema", "words"), [
    (prop({"type": "string", "minLength": 5, "maxLength": 1}), "minLength 5 is above maxLength 1"),
    (prop({"type": "array", "minItems": 3, "maxItems": 2}), "minItems 3 is above maxItems 2"),
    (prop({"type": "integer", "minimum": 5, "maximum": 1}), "minimum 5 is above maximum 1"),
    (prop({"type": "object", "minProperties": 2, "maxProperties": 1}), "minProperties 2"),
    (prop({"$ref": "#/$defs/missing"}), "points at nothing"),
    (prop({"$ref": "https://example.com/schema.json"}), "not within the schema"),
    (prop({"type": "frobnicate"}), "'frobnicate' is not a JSON schema type"),
    (prop({"type": ["string", "blah"]}), "'blah' is not a JSON schema type"),
    (prop({"type": {}}), "{} is not a JSON schema type"),  # found by the body fuzz test: was a TypeError
    (prop({"type": ["string", ["number"]]}), "['number'] is not a JSON schema type"),
    (prop({"type": "string", "pattern": "^(a$"}), "unbalanced"),
    (prop({"type": "string", "pattern": "^[a-z$"}), "unbalanced"),
    (prop({"type": "string", "pattern": "^(?=B)A+$"}), "uses lookaround"),
    (prop({"type": "string", "pattern": "^(?<!x)y$"}), "uses lookaround"),
    (prop({"type": "string", "pattern": r"^(a)\1$"}), "uses a backreference"),
    ({"type": "object", "properties": {"list": {"type": "array", "items": {"anyOf": [
        {"type": "string"}, {"type": "string", "minLength": 9, "maxLength": 3}]}}}}, "#/properties/list/items/anyOf/1"),
])
def test_a_schema_no_grammar_can_honour_is_named_with_its_place(schema: dict[str, Any], words: str) -> None:
    problem = schema_problem(schema)
    assert problem is not None and words in problem


@pytest.mark.parametrize("schema", [
    {"type": "object"},
    prop({"type": "string", "minLength": 1, "maxLength": 1, "pattern": r"^\(?[a-z]\)?$"}),
    prop({"type": ["string", "null"], "format": "date-time"}),
    prop({"type": "string", "pattern": r"^(?:a|b)+[)(?=]\\1\d{2,3}$"}),
    {"$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
     "type": "object", "properties": {"root": {"$ref": "#/$defs/node"}}},
    prop({"type": "number", "minimum": 0.5, "maximum": 0.5}),
    prop({"enum": [{"type": "frobnicate"}], "const": {"minLength": 5, "maxLength": 1}}),  # data, not schema
])
def test_ordinary_schemas_pass(schema: dict[str, Any]) -> None:
    assert schema_problem(schema) is None


def test_the_refusal_names_the_tool() -> None:
    tools = [ToolSpec("fine", "", {"type": "object"}),
             ToolSpec("broken", "", prop({"type": "string", "minLength": 5, "maxLength": 1}))]
    with pytest.raises(InvalidRequest) as raised:
        check_tool_schemas(tools)
    assert "tool 'broken'" in str(raised.value) and raised.value.param == "tools"


@pytest.mark.parametrize(("schema", "words"), [
    (prop({"type": "integer", "multipleOf": 7}), "`multipleOf` at #/properties/a"),
    (prop({"type": "integer", "not": {"enum": [0]}}), "`not` at #/properties/a"),
    (prop({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}), "`uniqueItems`"),
    (prop({"type": ["number", "null"], "minimum": 0.5}), "`minimum` at #/properties/a"),
])
def test_a_strict_tool_may_not_use_what_the_grammar_leaves_out(schema: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        check_tool_schemas([ToolSpec("exact", "", schema, strict=True)])
    assert "tool 'exact' is strict" in str(raised.value) and words in str(raised.value)
    check_tool_schemas([ToolSpec("loose", "", schema)])  # not strict: its calls were never promised valid


def test_a_strict_tool_keeps_what_the_grammar_holds() -> None:
    check_tool_schemas([ToolSpec("exact", "", prop({"type": "integer", "minimum": 3, "maximum": 4}), strict=True)])
