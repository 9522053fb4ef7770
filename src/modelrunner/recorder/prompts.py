"""The prompt a record shows, rendered by the runner that served it only when someone reads the record.

Rendering is a call to the engine (llama.cpp's apply-template): done after every answer, it cost server and
worker CPU on each request, though records are read rarely. A record keeps the engine request and a weak
reference to its runner instead; reading it by id renders once, if that runner is still loaded. Showing a record
never loads a model and never takes a generation slot."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

import orjson

from modelrunner.core.chat import ChatRequest, CompletionRequest
from modelrunner.recorder.exchange import Exchange

RENDER_TIMEOUT_S = 5.0
NOT_LOADED = ("the prompt is not available: the runner that served this request is no longer loaded "
              "(it is rendered only when the record is read)")
TOO_LARGE = "the prompt is not available: its request was too large to keep within the recorder's byte cap"


@dataclass(frozen=True)
class PromptSource:
    """What rendering a chat's prompt later needs. The runner is held weakly: a record never keeps an
    unloaded runner alive. `size_bytes`, about what the kept request takes, counts against the byte cap."""

    request: ChatRequest
    runner: weakref.ReferenceType[Any]
    size_bytes: int


@dataclass(frozen=True)
class Prompt:
    """A record's prompt: its text, why there is none, or (`source`) what renders it when it is read."""

    text: str | None = None
    error: str | None = None
    source: PromptSource | None = None


def prompt_of(exchange: Exchange) -> Prompt:
    """Without calling the engine: a completion's prompt is its own text; a chat's is left to render when
    the record is read by id."""
    request, runner = exchange.engine_request, exchange.runner
    if request is None:
        return Prompt()
    if isinstance(request, CompletionRequest):
        return Prompt(text=request.prompt)
    if runner is None:
        return Prompt(error="the prompt is not available: this runner cannot be kept to render it later")
    return Prompt(source=PromptSource(request, runner, len(orjson.dumps(request, default=str))))


async def rendered(source: PromptSource) -> Prompt:
    """The prompt rendered by the runner that served it, if that runner is still loaded. A failure while
    it is loaded keeps the source, so a later read tries again."""
    runner = source.runner()
    if runner is None or not runner.is_alive:
        return Prompt(error=NOT_LOADED)
    try:
        return Prompt(text=await asyncio.wait_for(runner.render_prompt(source.request), RENDER_TIMEOUT_S))
    except Exception as exc:
        return Prompt(error=f"the prompt could not be rendered: {type(exc).__name__}: {exc}", source=source)
