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
from modelrunner.core.chat import Usage
from modelrunner.core.tools import ToolingRequest
from modelrunner.core.errors import ContextOverflow, EngineFailed, ModelRunnerError, Unsupported
from modelrunner.dialects.anthropic.protocol import CountTokensBody, MessagesBody
from modelrunner.dialects.anthropic.response import message
from modelrunner.dialects.anthropic.stream import PING_EVENT, MessageStreamEncoder, error_event
from modelrunner.dialects.anthropic.translate import PreparedMessages, has_images, prepare, to_tooling_request
from modelrunner.generation import context as generation
from modelrunner.generation.context import Generation
from modelrunner.generation.plan import ToolPlan
from modelrunner.scheduler.admission import Yielding
from modelrunner.scheduler.runner_slot import Lease, ResolvedModel
from modelrunner.server.apis import ANTHROPIC_ROUTE
from modelrunner.server.bodies import read_body
from modelrunner.server.errors import error_document
from modelrunner.server.image_urls import ImageUrlPolicy, refuse_image_urls, with_image_urls_inlined
from modelrunner.server.preload import is_preload_only, preload_response
from modelrunner.server.recording import generation_observer
from modelrunner.server.keepalive import Keepalive
from modelrunner.server.responses import json_response
from modelrunner.server.routes.model_listing import openai_model, openai_model_list
from modelrunner.server.services import Services, services_of
from modelrunner.server.streaming import event_stream_response
from modelrunner.store import media_types

KEEPALIVE = Keepalive(PING_EVENT, interval_s=5.0)
TEMPLATE_TEXT_ALLOWANCE_BYTES = 4096

router = APIRouter(route_class=ANTHROPIC_ROUTE)
model_list_router = APIRouter(route_class=ANTHROPIC_ROUTE)
"""`/v1/models` is the OpenAI router's; this one serves the same list under `/anthropic/v1`."""


async def _prepared(request: Request, body: CountTokensBody) -> tuple[PreparedMessages, ResolvedModel]:
    """Validate and resolve the model before anything is sent: an unknown model is a 404, not a stream.
    The model is resolved here once for the whole request."""
    request.state.model = body.model
    services = services_of(request)
    prepared, stored = await _prepared_for(services, body)
    if b'"url"' in await request.body():  # an image URL this runner may not fetch is a 400 before any work
        refuse_image_urls(to_tooling_request(prepared).chat, _image_url_policy(services))
    return prepared, stored


async def _prepared_for(services: Services, body: CountTokensBody) -> tuple[PreparedMessages, ResolvedModel]:
    stored = await services.scheduler.resolve(body.model)
    return prepare(body, accepts_images=bool(stored.layers_of(media_types.MMPROJ))), stored


def _image_url_policy(services: Services) -> ImageUrlPolicy:
    return ImageUrlPolicy.from_settings(services.settings)


async def _tooling(services: Services, prepared: PreparedMessages) -> ToolingRequest:
    """The request as generation takes it, its image URLs inlined as the policy allows (or refused),
    so that the engine never fetches a URL itself."""
    tooling = to_tooling_request(prepared)
    return await with_image_urls_inlined(tooling, _image_url_policy(services))


def _error_event(request: Request) -> Callable[[ModelRunnerError], bytes]:
    def encode(error: ModelRunnerError) -> bytes:
        return error_event(error_document("anthropic", error, getattr(request.state, "request_id", None)))

    return encode


async def _rendered_tokens(lease: Lease, plan: ToolPlan) -> int:
    return await lease.runner.count_prompt_tokens(plan.chat)


async def _evaluated_tokens(request: Request, model: str, plan: ToolPlan) -> int:
    """An engine renders an image as a text marker and its tokenizer counts the marker, not the image's
    embeddings, whose number only the projector knows (and, for some, the image's size). A prompt with
    images is therefore counted by evaluating it: one generated token, in a generation slot."""
    probe = dataclasses.replace(plan.chat, sampling=dataclasses.replace(plan.chat.sampling, max_tokens=1, stop=[]))
    async with services_of(request).scheduler.acquire(model) as lease:
        async with contextlib.aclosing(lease.runner.chat(probe)) as chunks:
            async for chunk in chunks:
                if type(chunk) is Usage:
                    return chunk.prompt_tokens
    raise EngineFailed(f"the engine reported no token counts for {model}")


async def _refuse_if_too_long(request: Request, model: str, tooling: ToolingRequest,
                              stored: ResolvedModel) -> int | None:
    """Once a stream's 200 is out, "prompt is too long" can only be an error event, and clients such as
    Claude Code compact their conversation on the 400. So a body that could overflow the context is
    counted first. A token spans at least one byte, so a body with fewer bytes than the context has
    room for (less the template's own text) cannot overflow and skips the count. A prompt with images
    is not counted here (that would evaluate it twice): the engine reports its overflow, as an event.
    Returns the prompt's tokens when they were counted (message_start reports them)."""
    body_bytes = len(await request.body())
    scheduler = services_of(request).scheduler
    async with scheduler.acquire(model, needs_slot=False, model=stored) as lease:
        if body_bytes + TEMPLATE_TEXT_ALLOWANCE_BYTES < lease.context_size:
            return None
        plan = await generation.plan_for(lease, tooling)
        if has_images(plan.chat):
            return None
        try:
            tokens = await _rendered_tokens(lease, plan)
        except Unsupported:  # an engine that cannot count (some upstreams) reports its own overflow
            return None
    if tokens >= lease.context_size:
        raise ContextOverflow(tokens, lease.context_size)
    return tokens


async def complete_message(services: Services, body: MessagesBody, *, state: Any,
                           yielding: Yielding | None = None) -> dict[str, Any]:
    """The one non-streaming Messages generation: `POST /messages` without `stream`, and every request of
    a Message Batch (with `yielding`, at background priority). Raises ModelRunnerError for the caller
    to put in its envelope. A batch request streams from the engine all the same: preempting it must
    free its slot at once, and an engine notices a closed stream sooner than a closed whole request."""
    prepared, stored = await _prepared_for(services, body)
    tooling = await _tooling(services, prepared)
    start, observer = generation.chat(tooling), generation_observer(state)
    if yielding is None:
        chunks = await generation.answer_chunks(services.scheduler, body.model, keep_alive=None, start=start,
                                                record=state, model=stored, observer=observer)
        return message(CompletedAnswer.gathered(chunks), model=body.model)
    opened = await Generation.open(services.scheduler, body.model, keep_alive=None, start=start, record=state,
                                   model=stored, yielding=yielding, observer=observer)
    return message(await opened.complete(), model=body.model)


@router.post("/messages")
async def create_message(request: Request) -> Response:
    body = await read_body(request, MessagesBody)
    if not body.stream and not is_preload_only(request.headers):
        request.state.model = body.model
        return json_response(await complete_message(services_of(request), body, state=request.state))
    prepared, stored = await _prepared(request, body)
    if is_preload_only(request.headers):
        return await preload_response(request, body.model, None)
    services = services_of(request)
    scheduler = services.scheduler
    tooling = await _tooling(services, prepared)
    start = generation.chat(tooling)

    counted = await _refuse_if_too_long(request, body.model, tooling, stored)
    reservation = await scheduler.reserve(body.model, model=stored)  # a full queue is a 429 here, not an error event later
    encoder = MessageStreamEncoder(body.model, input_tokens=counted)
    cleanup = contextlib.AsyncExitStack()
    cleanup.callback(reservation.give_up)

    async def events() -> AsyncIterator[bytes]:
        yield encoder.message_start()
        lease = await cleanup.enter_async_context(reservation)
        async for chunk in generation.begin(lease, cleanup, start, request.state, generation_observer(request.state)):
            event = encoder.feed(chunk)
            if event:
                yield event

    return event_stream_response(events(), cleanup=cleanup, error_event=_error_event(request), keepalive=KEEPALIVE)


@router.post("/messages/count_tokens")
async def count_tokens(request: Request) -> Response:
    """Exactly what generation would feed the model (same translation, same template), tokenised by
    the model's own tokenizer; the engine serves both outside its generation slots."""
    body = await read_body(request, CountTokensBody)
    prepared, stored = await _prepared(request, body)
    tooling = to_tooling_request(prepared)
    async with services_of(request).scheduler.acquire(body.model, needs_slot=False, model=stored) as lease:
        plan = await generation.plan_for(lease, tooling)
        if not has_images(plan.chat):
            return json_response({"input_tokens": await _rendered_tokens(lease, plan)})
    plan = await with_image_urls_inlined(plan, _image_url_policy(services_of(request)))
    return json_response({"input_tokens": await _evaluated_tokens(request, body.model, plan)})


@model_list_router.get("/models")
async def list_models(request: Request) -> Response:
    services = services_of(request)
    return json_response(openai_model_list(await services.list_models(), await services.claude_aliases()))


@model_list_router.get("/models/{name:path}")
async def get_model(request: Request, name: str) -> Response:
    model = await services_of(request).find_model(name)
    return json_response(openai_model(model, name))
