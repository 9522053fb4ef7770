"""The Ollama request bodies modelrunner reads. Lenient like Ollama: unknown fields are ignored."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from modelrunner.core.limits import TOKEN_COUNT_MAX


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Options(_Lenient):
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0, le=TOKEN_COUNT_MAX)
    min_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    num_predict: int | None = Field(default=None, ge=-2, le=TOKEN_COUNT_MAX)
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


class ChatBody(_Lenient):
    model: str = Field(min_length=1, validation_alias=AliasChoices("model", "name"))
    messages: list[dict[str, Any]] = Field(default_factory=list)
    stream: bool = True
    format: str | dict[str, Any] | None = None
    options: Options | None = None
    keep_alive: str | int | float | None = None
    tools: list[dict[str, Any]] | None = None
    think: bool | None = None


class GenerateBody(_Lenient):
    model: str = Field(min_length=1, validation_alias=AliasChoices("model", "name"))
    prompt: str = ""
    system: str | None = None
    raw: bool = False
    stream: bool = True
    format: str | dict[str, Any] | None = None
    options: Options | None = None
    keep_alive: str | int | float | None = None
    images: list[str] | None = None
    think: bool | None = None


class ModelBody(_Lenient):
    model: str = Field(min_length=1, validation_alias=AliasChoices("model", "name"))
    stream: bool = True
