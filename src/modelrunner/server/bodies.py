"""Reading request bodies: JSON parsed once with orjson, validated once with pydantic, and every
failure turned into an InvalidRequest with a message a person can act on."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from modelrunner.core.errors import InvalidRequest

Body = TypeVar("Body", bound=BaseModel)

# orjson parses deeper documents than it can write back (its limit is 255 levels); the engine gets our
# re-encoded body, so anything deeper than this is refused when it is read.
MAX_JSON_DEPTH = 128


def nesting_depth(document: Any) -> int:
    """How deeply arrays and objects nest in `document`, found without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def parse_json(raw: bytes, *, expected: str = "a JSON object") -> Any:
    """A request body as a JSON document, bounded in depth; every failure is an InvalidRequest."""
    if not raw.strip():
        raise InvalidRequest(f"request body is empty: expected {expected}")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if nesting_depth(document) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
    return document


async def read_json(request: Request) -> Any:
    return parse_json(await request.body())


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        location = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "missing":
            problems.append(f"{location}: field required")
        else:
            problems.append(f"{location}: {error['msg']}")
    return "; ".join(problems)


async def read_body(request: Request, model: type[Body]) -> Body:
    document = await read_json(request)
    if not isinstance(document, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        raise InvalidRequest(describe_validation_error(exc), param=".".join(map(str, first)) or None) from None
