"""Glue between the Responses API and the shared tool strategy: the Responses dialect writes its
conversation in the Messages shape, and this runs it through the Anthropic route's preparation
(prompted tools, constrained calls, structured output) and tool-call decoding.

The one place the Responses routes meet generation: when the `generation/` package lands, this module
is re-pointed at it and nothing else changes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from modelrunner.core.chat import EngineChunk
from modelrunner.core.errors import InvalidRequest
from modelrunner.dialects.anthropic.protocol import MessagesBody
from modelrunner.dialects.anthropic.tool_calls import decode_tool_calls
from modelrunner.dialects.anthropic.translate import PreparedMessages, prepare, to_chat_request
from modelrunner.scheduler.scheduler import Lease
from modelrunner.server.bodies import describe_validation_error
from modelrunner.server.generation import StartGeneration
from modelrunner.server.services import services_of
from modelrunner.store import media_types


async def prepared_conversation(request: Request, document: dict[str, Any]) -> PreparedMessages:
    """Validate the Messages-shaped conversation and resolve the model before anything is sent."""
    try:
        body = MessagesBody.model_validate(document)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc), param="input") from None
    stored = await services_of(request).scheduler.resolve(body.model)
    return prepare(body, accepts_images=bool(stored.layers_of(media_types.MMPROJ)))


def generate(request: Request, prepared: PreparedMessages) -> StartGeneration:
    """Pick native or prompted tools once the runner is known, then stream chunks with calls decoded."""

    async def chunks(lease: Lease) -> AsyncIterator[EngineChunk]:
        native = bool(prepared.tools) and await services_of(request).template_tools.renders_tools(lease.runner)
        translation = to_chat_request(prepared, native_tools=native)
        async with contextlib.aclosing(lease.runner.chat(translation.chat)) as engine:
            async with contextlib.aclosing(decode_tool_calls(engine, translation)) as decoded:  # type: ignore[type-var]
                async for chunk in decoded:
                    yield chunk

    return chunks
