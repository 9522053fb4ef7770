"""The OpenAI-compatible inference routes, mounted under `/engines/v1`, `/engines/{backend}/v1` and
`/v1`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.core.answer import CompletedAnswer
from modelrunner.core.errors import ModelRunnerError
from modelrunner.generation import context as generation
from modelrunner.generation.context import Generation
from modelrunner.dialects.openai import responses
from modelrunner.dialects.openai.protocol import ChatCompletionsBody, CompletionsBody, StreamOptions
from modelrunner.dialects.openai.translate import to_chat_request, to_completion_request
from modelrunner.server.bodies import read_body
from modelrunner.server.apis import OPENAI_ROUTE
from modelrunner.server.errors import error_document
from modelrunner.server.image_urls import ImageUrlPolicy, with_image_urls_inlined
from modelrunner.server.preload import is_preload_only, preload_response
from modelrunner.server.recording import generation_observer
from modelrunner.server.responses import json_response
from modelrunner.server.routes.model_listing import openai_model, openai_model_list
from modelrunner.server.services import services_of
from modelrunner.server.streaming import event_stream_response

router = APIRouter(route_class=OPENAI_ROUTE)


def _stream_error_event(error: ModelRunnerError) -> bytes:
    return b"data: " + orjson.dumps(error_document("openai", error)) + b"\n\n"


async def _serve(
    request: Request,
    *,
    model: str,
    keep_alive: str | None,
    start: generation.Start,
    stream: bool,
    include_usage: bool,
    whole: Callable[[CompletedAnswer], dict[str, Any]],
    events: Callable[..., AsyncIterator[bytes]],
) -> Response:
    """Run one generation and answer it whole or as a stream, in OpenAI's shapes."""
    request.state.model = model
    if is_preload_only(request.headers):
        return await preload_response(request, model, keep_alive)
    scheduler, observer = services_of(request).scheduler, generation_observer(request.state)
    if not stream:
        chunks = await generation.answer_chunks(scheduler, model, keep_alive=keep_alive, start=start,
                                                record=request.state, observer=observer)
        return json_response(whole(CompletedAnswer.gathered(chunks)))
    opened = await Generation.open(scheduler, model, keep_alive=keep_alive, start=start, record=request.state,
                                   observer=observer)
    body = events(opened.chunks(), model=model, include_usage=include_usage)
    return event_stream_response(body, cleanup=opened.cleanup, error_event=_stream_error_event)


def _wants_usage(options: StreamOptions | None) -> bool:
    return bool(options and options.include_usage)


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    body = await read_body(request, ChatCompletionsBody)
    tooling = to_chat_request(body)
    policy = ImageUrlPolicy.from_settings(services_of(request).settings)
    tooling = await with_image_urls_inlined(tooling, policy)
    return await _serve(
        request, model=body.model, keep_alive=tooling.chat.keep_alive, start=generation.chat(tooling),
        stream=body.stream, include_usage=_wants_usage(body.stream_options),
        whole=lambda answer: responses.chat_completion(answer, model=body.model),
        events=responses.chat_completion_events,
    )


@router.post("/completions")
async def completions(request: Request) -> Response:
    body = await read_body(request, CompletionsBody)
    completion = to_completion_request(body)

    def whole(answer: CompletedAnswer) -> dict[str, Any]:
        if body.echo:
            answer.text = completion.prompt + answer.text
        return responses.text_completion(answer, model=body.model)

    return await _serve(
        request, model=body.model, keep_alive=completion.keep_alive,
        start=generation.completion(completion),
        stream=body.stream, include_usage=_wants_usage(body.stream_options),
        whole=whole, events=responses.text_completion_events,
    )


@router.get("/models")
async def list_models(request: Request) -> Response:
    services = services_of(request)
    return json_response(openai_model_list(await services.list_models(), await services.claude_aliases()))


@router.get("/models/{name:path}")
async def get_model(request: Request, name: str) -> Response:
    model = await services_of(request).find_model(name)
    return json_response(openai_model(model, name))

