"""Reading request bodies: JSON parsed once with orjson, validated once with pydantic, and every
failure turned into an InvalidRequest with a message a person can act on."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from modelrunner.core.errors import InvalidRequest

Body = TypeVar("Body", bound=BaseModel)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise InvalidRequest("request body is empty: expected a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None


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
