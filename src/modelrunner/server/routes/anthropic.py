"""The Anthropic Messages routes (`/messages`, `/messages/count_tokens`, and the model list for SDKs
whose base URL is `/anthropic`), mounted under `/v1`, `/anthropic/v1`, `/engines/v1` and
`/engines/{backend}/v1`. Query strings (`?beta=true`) are ignored by routing."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.core.answer import CompletedAnswer
from modelrunner.core.chat import EngineChunk, Usage
from modelrunner.core.errors import ContextOverflow, EngineFailed, ModelRunnerError
from modelrunner.dialects.anthropic.errors import anthropic_status, error_body
from modelrunner.dialects.anthropic.protocol import CountTokensBody, MessagesBody
from modelrunner.dialects.anthropic.response import message
from modelrunner.dialects.anthropic.stream import PING_EVENT, MessageStreamEncoder, error_event
from modelrunner.dialects.anthropic.tool_calls import decode_tool_calls
from modelrunner.dialects.anthropic.translate import (
    PreparedMessages,
    Translation,
    has_images,
    has_parallel_calls,
    prepare,
    to_chat_request,
)
from modelrunner.scheduler.admission import Yielding
from modelrunner.scheduler.scheduler import Lease
from modelrunner.server.bodies import read_body
from modelrunner.server.errors import status_for
from modelrunner.server.generation import (
    StartGeneration,
    is_preload_only,
    open_generation,
    open_lease,
    start_chunks,
)
from modelrunner.server.image_urls import ImageUrlPolicy, inline_image_urls, refuse_image_urls
from modelrunner.server.keepalive import Keepalive
from modelrunner.server.responses import json_response
from modelrunner.server.routes.model_listing import openai_model, openai_model_list
from modelrunner.server.services import Services, services_of
from modelrunner.server.streaming import event_stream_response
from modelrunner.store import media_types

KEEPALIVE = Keepalive(PING_EVENT, interval_s=5.0)
TEMPLATE_TEXT_ALLOWANCE_BYTES = 4096

router = APIRouter()
model_list_router = APIRouter()
"""`/v1/models` is the OpenAI router's; this one serves the same list under `/anthropic/v1`."""


async def _prepared(request: Request, body: CountTokensBody) -> PreparedMessages:
    """Validate and resolve the model before anything is sent: an unknown model is a 404, not a stream."""
    request.state.model = body.model
    prepared = await _prepared_for(services_of(request), body)
    if b'"url"' in await request.body():  # an image URL this runner may not fetch is a 400 before any work
        refuse_image_urls(to_chat_request(prepared, native_tools=False).chat, _image_url_policy(services_of(request)))
    return prepared


async def _prepared_for(services: Services, body: CountTokensBody) -> PreparedMessages:
    stored = await services.scheduler.resolve(body.model)
    return prepare(body, accepts_images=bool(stored.layers_of(media_types.MMPROJ)))


def _image_url_policy(services: Services) -> ImageUrlPolicy:
    return ImageUrlPolicy.from_settings(services.settings)


async def _translation(request: Request, lease: Lease, prepared: PreparedMessages) -> Translation:
    return await _translation_for(services_of(request), lease, prepared)


async def _translation_for(services: Services, lease: Lease, prepared: PreparedMessages) -> Translation:
    template_tools = services.template_tools
    native = bool(prepared.tools) and await template_tools.renders_tools(lease.runner)
    parallel = not (native and has_parallel_calls(prepared)) or await template_tools.renders_parallel_calls(lease.runner)
    return to_chat_request(prepared, native_tools=native, parallel_calls=parallel)


def _generate(services: Services, prepared: PreparedMessages) -> StartGeneration:
    """Translate once the runner is known (tool support), then stream its chunks with tool calls decoded."""

    async def chunks(lease: Lease) -> AsyncIterator[EngineChunk]:
        translation = await _translation_for(services, lease, prepared)
        translation = dataclasses.replace(
            translation, chat=await inline_image_urls(translation.chat, _image_url_policy(services)))
        async with contextlib.aclosing(lease.runner.chat(translation.chat)) as engine:
            async with contextlib.aclosing(decode_tool_calls(engine, translation)) as decoded:  # type: ignore[type-var]
                async for chunk in decoded:
                    yield chunk

    return chunks


def _error_event(request: Request) -> Callable[[ModelRunnerError], bytes]:
    def encode(error: ModelRunnerError) -> bytes:
        status = anthropic_status(status_for(error))
        return error_event(error_body(error, status, getattr(request.state, "request_id", None)))

    return encode


async def _rendered_tokens(lease: Lease, translation: Translation) -> int:
    return await lease.runner.count_tokens(await lease.runner.render_prompt(translation.chat))


async def _evaluated_tokens(request: Request, model: str, translation: Translation) -> int:
    """llama.cpp renders an image as a text marker and its tokenizer counts the marker, not the image's
    embeddings, whose number only the projector knows (and, for some, the image's size). A prompt with
    images is therefore counted by evaluating it: one generated token, in a generation slot."""
    probe = dataclasses.replace(translation.chat, sampling=dataclasses.replace(
        translation.chat.sampling, max_tokens=1, stop=[]))
    async with services_of(request).scheduler.acquire(model) as lease:
        async with contextlib.aclosing(lease.runner.chat(probe)) as chunks:
            async for chunk in chunks:
                if type(chunk) is Usage:
                    return chunk.prompt_tokens
    raise EngineFailed(f"the engine reported no token counts for {model}")


async def _refuse_if_too_long(request: Request, model: str, prepared: PreparedMessages) -> int | None:
    """Once a stream's 200 is out, "prompt is too long" can only be an error event, and clients such as
    Claude Code compact their conversation on the 400. So a body that could overflow the context is
    counted first. A token spans at least one byte, so a body with fewer bytes than the context has
    room for (less the template's own text) cannot overflow and skips the count. A prompt with images
    is not counted here (that would evaluate it twice): the engine reports its overflow, as an event.
    Returns the prompt's tokens when they were counted (message_start reports them)."""
    body_bytes = len(await request.body())
    scheduler = services_of(request).scheduler
    async with scheduler.acquire(model, needs_slot=False) as lease:
        if body_bytes + TEMPLATE_TEXT_ALLOWANCE_BYTES < lease.context_size:
            return None
        translation = await _translation(request, lease, prepared)
        if has_images(translation.chat):
            return None
        tokens = await _rendered_tokens(lease, translation)
    if tokens >= lease.context_size:
        raise ContextOverflow(tokens, lease.context_size)
    return tokens


async def complete_message(services: Services, body: MessagesBody, *, state: Any,
                           yielding: Yielding | None = None) -> dict[str, Any]:
    """The one non-streaming Messages generation: `POST /messages` without `stream`, and every request of
    a Message Batch (with `yielding`, at background priority). Raises ModelRunnerError for the caller
    to put in its envelope. Moves to `generation/` with the request path; keep both callers on it."""
    prepared = await _prepared_for(services, body)
    generation = await open_generation(services.scheduler, body.model, keep_alive=None,
                                       start=_generate(services, prepared), state=state, yielding=yielding)
    async with generation.cleanup:
        answer = await CompletedAnswer.collect(generation.chunks)
    return message(answer, model=body.model)


@router.post("/messages")
async def create_message(request: Request) -> Response:
    body = await read_body(request, MessagesBody)
    if not body.stream and not is_preload_only(request.headers):
        request.state.model = body.model
        return json_response(await complete_message(services_of(request), body, state=request.state))
    prepared = await _prepared(request, body)
    scheduler = services_of(request).scheduler
    if is_preload_only(request.headers):
        lease, cleanup = await open_lease(scheduler, body.model, keep_alive=None)
        await cleanup.aclose()
        return json_response({"model": body.model, "loaded": True, "id": lease.model.id})
    start = _generate(services_of(request), prepared)

    counted = await _refuse_if_too_long(request, body.model, prepared)
    reservation = await scheduler.reserve(body.model)  # a full queue is a 429 here, not an error event later
    encoder = MessageStreamEncoder(body.model, input_tokens=counted)
    cleanup = contextlib.AsyncExitStack()
    cleanup.callback(reservation.give_up)

    async def events() -> AsyncIterator[bytes]:
        yield encoder.message_start()
        lease = await cleanup.enter_async_context(reservation)
        async for chunk in await start_chunks(lease, cleanup, start, request.state):
            event = encoder.feed(chunk)
            if event:
                yield event

    return event_stream_response(events(), cleanup=cleanup, error_event=_error_event(request), keepalive=KEEPALIVE)


@router.post("/messages/count_tokens")
async def count_tokens(request: Request) -> Response:
    """Exactly what generation would feed the model (same translation, same template), tokenised by
    the model's own tokenizer; llama.cpp serves both from HTTP threads, not generation slots."""
    body = await read_body(request, CountTokensBody)
    prepared = await _prepared(request, body)
    async with services_of(request).scheduler.acquire(body.model, needs_slot=False) as lease:
        translation = await _translation(request, lease, prepared)
        if not has_images(translation.chat):
            return json_response({"input_tokens": await _rendered_tokens(lease, translation)})
    translation = dataclasses.replace(
        translation, chat=await inline_image_urls(translation.chat, _image_url_policy(services_of(request))))
    return json_response({"input_tokens": await _evaluated_tokens(request, body.model, translation)})


@model_list_router.get("/models")
async def list_models(request: Request) -> Response:
    services = services_of(request)
    return json_response(openai_model_list(await services.list_models(), await services.claude_aliases()))


@model_list_router.get("/models/{name:path}")
async def get_model(request: Request, name: str) -> Response:
    model = await services_of(request).find_model(name)
    return json_response(openai_model(model, name))
