"""The Anthropic Messages routes (`/messages`, `/messages/count_tokens`, and the model list for SDKs
whose base URL is `/anthropic`), mounted under `/v1`, `/anthropic/v1`, `/engines/v1` and
`/engines/{backend}/v1`. Query strings (`?beta=true`) are ignored by routing."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.core.answer import CompletedAnswer
from modelrunner.core.chat import EngineChunk, Usage
from modelrunner.core.errors import ContextOverflow, EngineFailed, ModelRunnerError, Unsupported
from modelrunner.dialects.anthropic.errors import anthropic_status, error_body
from modelrunner.dialects.anthropic.protocol import CountTokensBody, MessagesBody
from modelrunner.dialects.anthropic.response import message
from modelrunner.dialects.anthropic.stream import PING_EVENT, MessageStreamEncoder, error_event
from modelrunner.dialects.anthropic.tool_calls import decode_tool_calls
from modelrunner.dialects.anthropic.translate import (
    PreparedMessages,
    Translation,
    has_images,
    prepare,
    to_chat_request,
)
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
from modelrunner.server.keepalive import Keepalive
from modelrunner.server.responses import json_response
from modelrunner.server.routes.model_listing import openai_model, openai_model_list
from modelrunner.server.services import services_of
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
    stored = await services_of(request).scheduler.resolve(body.model)
    return prepare(body, accepts_images=bool(stored.layers_of(media_types.MMPROJ)))


async def _translation(request: Request, lease: Lease, prepared: PreparedMessages) -> Translation:
    native = bool(prepared.tools) and await services_of(request).template_tools.renders_tools(lease.runner)
    return to_chat_request(prepared, native_tools=native)


def _generate(request: Request, prepared: PreparedMessages) -> StartGeneration:
    """Translate once the runner is known (tool support), then stream its chunks with tool calls decoded."""

    async def chunks(lease: Lease) -> AsyncIterator[EngineChunk]:
        translation = await _translation(request, lease, prepared)
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
    count_chat_tokens = getattr(lease.runner, "count_chat_tokens", None)  # a remote upstream counts itself (#12)
    if count_chat_tokens is not None:
        return await count_chat_tokens(translation.chat)
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


async def _refuse_if_too_long(request: Request, model: str, prepared: PreparedMessages) -> None:
    """Once a stream's 200 is out, "prompt is too long" can only be an error event, and clients such as
    Claude Code compact their conversation on the 400. So a body that could overflow the context is
    counted first. A token spans at least one byte, so a body with fewer bytes than the context has
    room for (less the template's own text) cannot overflow and skips the count. A prompt with images
    is not counted here (that would evaluate it twice): the engine reports its overflow, as an event."""
    body_bytes = len(await request.body())
    scheduler = services_of(request).scheduler
    async with scheduler.acquire(model, needs_slot=False) as lease:
        if body_bytes + TEMPLATE_TEXT_ALLOWANCE_BYTES < lease.context_size:
            return
        translation = await _translation(request, lease, prepared)
        if has_images(translation.chat):
            return
        try:
            tokens = await _rendered_tokens(lease, translation)
        except Unsupported:  # an upstream that cannot count reports its own overflow (#12)
            return
    if tokens >= lease.context_size:
        raise ContextOverflow(tokens, lease.context_size)


@router.post("/messages")
async def create_message(request: Request) -> Response:
    body = await read_body(request, MessagesBody)
    prepared = await _prepared(request, body)
    scheduler = services_of(request).scheduler
    if is_preload_only(request.headers):
        lease, cleanup = await open_lease(scheduler, body.model, keep_alive=None)
        await cleanup.aclose()
        return json_response({"model": body.model, "loaded": True, "id": lease.model.id})
    start = _generate(request, prepared)
    if not body.stream:
        generation = await open_generation(scheduler, body.model, keep_alive=None, start=start, state=request.state)
        async with generation.cleanup:
            answer = await CompletedAnswer.collect(generation.chunks)
        return json_response(message(answer, model=body.model))

    await _refuse_if_too_long(request, body.model, prepared)
    reservation = await scheduler.reserve(body.model)  # a full queue is a 429 here, not an error event later
    encoder = MessageStreamEncoder(body.model)
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
    return json_response({"input_tokens": await _evaluated_tokens(request, body.model, translation)})


@model_list_router.get("/models")
async def list_models(request: Request) -> Response:
    return json_response(openai_model_list(await services_of(request).list_models()))


@model_list_router.get("/models/{name:path}")
async def get_model(request: Request, name: str) -> Response:
    model = await services_of(request).find_model(name)
    return json_response(openai_model(model, name))
