"""Refuse, before any engine sees it, a JSON schema that cannot constrain decoding: llama.cpp turns
tool input schemas and output formats into a grammar, and some schemas make that grammar wrong
rather than refused (a string whose minLength exceeds its maxLength left the worker decoding
forever). What is checked here is what no grammar can honour, so the answer is a 400 naming the tool
and the place in its schema; everything else is left to the engine."""

from __future__ import annotations

from typing import Any

from modelrunner.core.errors import InvalidRequest
from modelrunner.core.tools import ToolSpec

JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_BOUNDS = (("minLength", "maxLength"), ("minItems", "maxItems"), ("minProperties", "maxProperties"),
           ("minimum", "maximum"))
_SUBSCHEMA = frozenset({"items", "additionalProperties", "not", "if", "then", "else", "contains",
                        "propertyNames", "unevaluatedItems", "unevaluatedProperties", "additionalItems"})
_SUBSCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_MAX_DEPTH = 256
_UNHELD = ("multipleOf", "not", "uniqueItems")
_NUMBER_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def check_tool_schemas(specs: list[ToolSpec]) -> None:
    """An InvalidRequest naming the first tool whose input schema no grammar can honour, or a strict
    tool's that uses a keyword llama.cpp's grammar does not hold (its calls would pass for valid)."""
    for spec in specs:
        problem = schema_problem(spec.input_schema)
        if problem is not None:
            raise InvalidRequest(f"tool {spec.name!r}: its input schema cannot constrain a call: {problem}",
                                 param="tools")
        unheld = unheld_keyword(spec.input_schema) if spec.strict else None
        if unheld is not None:
            raise InvalidRequest(f"tool {spec.name!r} is strict, but the engine's grammar cannot hold its calls "
                                 f"to {unheld}: drop the keyword or `strict`", param="tools")


def unheld_keyword(schema: Any) -> str | None:
    """A keyword llama.cpp's converter leaves out of the grammar (seen here: forced strict calls broke
    multipleOf, not, uniqueItems and a non-integer's bounds), with its JSON pointer, or None."""
    found: list[str] = []

    def note(node: dict[str, Any], pointer: str) -> None:
        kinds = node.get("type") if isinstance(node.get("type"), list) else [node.get("type")]
        bounds = _NUMBER_BOUNDS if "number" in kinds else ()
        found.extend(f"`{keyword}` at {pointer}" for keyword in (*_UNHELD, *bounds) if keyword in node)

    _visit(schema, "#", 0, note)
    return found[0] if found else None


def check_output_schema(schema: Any) -> None:
    problem = schema_problem(schema)
    if problem is not None:
        raise InvalidRequest(f"the output format's JSON schema cannot constrain the answer: {problem}",
                             param="response_format")


def schema_problem(schema: Any) -> str | None:
    """What makes `schema` impossible to turn into a grammar, with its JSON pointer, or None."""
    return _walk(schema, schema, "#", 0)


def _walk(node: Any, root: Any, pointer: str, depth: int) -> str | None:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:  # bodies nest 128 deep at most; a guard for others
        return None
    problem = _node_problem(node, root, pointer)
    if problem is not None:
        return problem
    for child_pointer, child in _children(node, pointer):
        problem = _walk(child, root, child_pointer, depth + 1)
        if problem is not None:
            return problem
    return None


def _visit(node: Any, pointer: str, depth: int, see: Any) -> None:
    """Call `see(schema, pointer)` on every subschema of `node`, itself first."""
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return
    see(node, pointer)
    for child_pointer, child in _children(node, pointer):
        _visit(child, child_pointer, depth + 1, see)


def _children(node: dict[str, Any], pointer: str) -> list[tuple[str, Any]]:
    children: list[tuple[str, Any]] = []
    for key, value in node.items():
        if key in _SUBSCHEMA:
            children.append((f"{pointer}/{key}", value))
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            children.extend((f"{pointer}/{key}/{index}", item) for index, item in enumerate(value))
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            children.extend((f"{pointer}/{key}/{name}", item) for name, item in value.items())
    return children


def _node_problem(node: dict[str, Any], root: Any, pointer: str) -> str | None:
    kinds = node.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
        if not isinstance(kind, str) or kind not in JSON_TYPES:
            return f"at {pointer}: {kind!r} is not a JSON schema type"
    for low_key, high_key in _BOUNDS:
        low, high = node.get(low_key), node.get(high_key)
        if _is_number(low) and _is_number(high) and low > high:
            return f"at {pointer}: {low_key} {low} is above {high_key} {high}, so no value fits"
    reference = node.get("$ref")
    if isinstance(reference, str) and not _resolves(reference, root):
        if not reference.startswith("#"):
            return f"at {pointer}: $ref {reference!r} is not within the schema (only local references are)"
        return f"at {pointer}: $ref {reference!r} points at nothing in the schema"
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        problem = _pattern_problem(pattern)
        if problem is not None:
            return f"at {pointer}: pattern {pattern!r} {problem}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _resolves(reference: str, root: Any) -> bool:
    if not reference.startswith("#"):
        return False
    node = root
    for part in reference[1:].split("/")[1:] if reference != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


_LOOKAROUND = ("?=", "?!", "?<=", "?<!")


def _pattern_problem(pattern: str) -> str | None:
    """Unbalanced groups or classes (no dialect accepts them), or lookaround and backreferences, which
    llama.cpp's converter does not refuse but cannot express: its grammar would hold the call to some
    other language than the pattern's, and the call would pass for valid. Escapes and class contents aside."""
    depth = 0
    in_class = False
    escaped = False
    for position, character in enumerate(pattern):
        if escaped:
            escaped = False
            if not in_class and (character in "123456789" or character == "k"):
                return "uses a backreference, which no grammar can express"
        elif character == "\\":
            escaped = True
        elif in_class:
            in_class = character != "]"
        elif character == "[":
            in_class = True
        elif character == "(":
            if pattern.startswith(_LOOKAROUND, position + 1):
                return "uses lookaround, which no grammar can express"
            depth += 1
        elif character == ")":
            depth -= 1
            if depth < 0:
                break
    if depth != 0 or in_class or escaped:
        return "has unbalanced brackets or parentheses"
    return None
