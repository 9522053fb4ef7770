"""Ollama `/api/embed` (inputs -> `embeddings`) and the older `/api/embeddings` (`prompt` -> `embedding`)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from modelrunner.core.embedding import Embeddings, shorten
from modelrunner.core.errors import InvalidRequest
from modelrunner.core.limits import TEXT_CHARS_MAX

MAX_INPUTS = 2048


class EmbedBody(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model: str = Field(min_length=1, validation_alias=AliasChoices("model", "name"))
    input: Any = None
    truncate: bool = True
    dimensions: int | None = Field(default=None, ge=1, strict=True)
    keep_alive: str | int | float | None = None
    options: dict[str, Any] | None = None


class LegacyEmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model: str = Field(min_length=1, validation_alias=AliasChoices("model", "name"))
    prompt: str | None = None
    keep_alive: str | int | float | None = None
    options: dict[str, Any] | None = None


def embed_inputs(value: Any, *, max_inputs: int = MAX_INPUTS) -> list[str]:
    """`input` as Ollama takes it: a string or a list of strings, none empty, at most `max_inputs`."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InvalidRequest("input: expected a string or a list of strings", param="input")
    if not items or not all(items):
        raise InvalidRequest("input: may not be empty, nor contain an empty string", param="input")
    if len(items) > max_inputs:
        raise InvalidRequest(f"input: at most {max_inputs} inputs per request, got {len(items)}", param="input")
    _check_lengths(items, "input")
    return items


def _check_lengths(texts: list[str], field: str) -> None:
    for n, text in enumerate(texts):
        if len(text) > TEXT_CHARS_MAX:
            raise InvalidRequest(f"{field}[{n}]: at most {TEXT_CHARS_MAX} characters, got {len(text)}", param=field)


def prompt_input(prompt: str | None) -> list[str]:
    if not prompt:
        raise InvalidRequest("prompt: may not be empty", param="prompt")
    if len(prompt) > TEXT_CHARS_MAX:
        raise InvalidRequest(f"prompt: at most {TEXT_CHARS_MAX} characters, got {len(prompt)}", param="prompt")
    return [prompt]


def embed_answer(result: Embeddings, *, model: str, dimensions: int | None,
                 total_ns: int, load_ns: int) -> dict[str, Any]:
    return {"model": model, "embeddings": [shorten(vector, dimensions) for vector in result.vectors],
            "total_duration": total_ns, "load_duration": load_ns, "prompt_eval_count": result.prompt_tokens}


def legacy_answer(result: Embeddings) -> dict[str, Any]:
    return {"embedding": result.vectors[0]}
