"""Request bodies are parsed once and bounded in depth: deeper than MAX_JSON_DEPTH is a clear 400
(InvalidRequest), whatever the body's size; shallow bodies with many brackets pass."""

from __future__ import annotations

import orjson
import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.server.bodies import MAX_JSON_DEPTH, parse_json


def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"[]" + b"}" * (depth - 1)


def test_a_body_at_the_depth_limit_is_read() -> None:
    document = parse_json(nested(MAX_JSON_DEPTH))
    assert isinstance(document, dict)


@pytest.mark.parametrize("raw", [nested(MAX_JSON_DEPTH + 1), b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)])
def test_a_body_past_the_depth_limit_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidRequest, match="levels deep"):
        parse_json(raw)


def test_a_wide_shallow_body_with_many_brackets_is_read() -> None:
    raw = orjson.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}] * 500})
    assert len(parse_json(raw)["messages"]) == 500
