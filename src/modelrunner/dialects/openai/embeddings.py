"""OpenAI `/v1/embeddings`: the body, its inputs checked and bounded, and the answer in float or base64."""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelrunner.core.embedding import EmbeddingInput, Embeddings, shorten
from modelrunner.core.errors import InvalidRequest
from modelrunner.core.limits import TEXT_CHARS_MAX, TOKEN_IDS_MAX

MAX_INPUTS = 2048
"""OpenAI's own limit on inputs per request: a request is one batch on one runner, so it is bounded."""
MAX_TOKEN_ID = (1 << 31) - 1


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: Any = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, strict=True)
    """Strict: `true` or `"8"` is refused, not read as 1 or 8."""
    user: str | None = None


def _token_ids(value: list[Any], where: str) -> list[int]:
    if not value:
        raise InvalidRequest(f"{where}: an input may not be empty", param="input")
    if len(value) > TOKEN_IDS_MAX:
        raise InvalidRequest(f"{where}: at most {TOKEN_IDS_MAX} token ids, got {len(value)}", param="input")
    for item in value:
        if not isinstance(item, int) or isinstance(item, bool):
            raise InvalidRequest(f"{where}: token ids must be integers, got {item!r}", param="input")
        if not 0 <= item <= MAX_TOKEN_ID:
            raise InvalidRequest(f"{where}: token id {item} is out of range", param="input")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: expected a string or a list of token ids, got {type(value).__name__}",
                             param="input")
    if not value:
        raise InvalidRequest(f"{where}: an input may not be an empty string", param="input")
    if len(value) > TEXT_CHARS_MAX:
        raise InvalidRequest(f"{where}: at most {TEXT_CHARS_MAX} characters, got {len(value)}", param="input")
    return value


def embedding_inputs(value: Any, *, max_inputs: int = MAX_INPUTS) -> list[EmbeddingInput]:
    """`input` as OpenAI takes it (a string, strings, token ids, lists of token ids) -> one list."""
    if value is None:
        raise InvalidRequest("input: field required", param="input")
    if isinstance(value, str):
        return [_text(value, "input")]
    if not isinstance(value, list):
        raise InvalidRequest("input: expected a string, a list of strings or a list of token ids", param="input")
    if not value:
        raise InvalidRequest("input: may not be an empty list", param="input")
    if all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in value):
        return [_token_ids(value, "input")]
    if len(value) > max_inputs:
        raise InvalidRequest(f"input: at most {max_inputs} inputs per request, got {len(value)}", param="input")
    return [_token_ids(item, f"input[{n}]") if isinstance(item, list) else _text(item, f"input[{n}]")
            for n, item in enumerate(value)]


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "float":
        return vector
    packed = array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()  # the SDK decodes little-endian float32
    return base64.b64encode(packed.tobytes()).decode("ascii")


def embeddings_answer(result: Embeddings, *, model: str, encoding_format: str,
                      dimensions: int | None) -> dict[str, Any]:
    data = [{"object": "embedding", "index": index,
             "embedding": _encoded(shorten(vector, dimensions), encoding_format)}
            for index, vector in enumerate(result.vectors)]
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}}
