"""The OpenAI Responses API: `POST /responses` (whole or streamed), and stored responses by id
(`GET`, `GET .../input_items`, `DELETE`). Mounted under `/v1`, `/engines/v1`, `/engines/{backend}/v1`
and the root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.core.errors import InvalidRequest, ModelRunnerError
from modelrunner.dialects.responses.protocol import ResponsesBody
from modelrunner.dialects.responses.stream import ResponseEncoder
from modelrunner.dialects.responses.translate import input_items, messages_body
from modelrunner.generation import context as generation
from modelrunner.generation.context import Generation
from modelrunner.server.apis import OPENAI_ROUTE
from modelrunner.server.bodies import read_body
from modelrunner.server.preload import is_preload_only, preload_response
from modelrunner.server.recording import generation_observer
from modelrunner.server.responses import json_response
from modelrunner.server.responses_generation import tooling_request
from modelrunner.server.services import services_of
from modelrunner.server.streaming import event_stream_response

router = APIRouter(route_class=OPENAI_ROUTE)

MAX_LISTED_ITEMS = 100


def _error_event(encoder: ResponseEncoder) -> Callable[[ModelRunnerError], bytes]:
    def encode(error: ModelRunnerError) -> bytes:
        return encoder.error(error.message, type(error).__name__)

    return encode


@router.post("/responses")
async def create_response(request: Request) -> Response:
    body = await read_body(request, ResponsesBody)
    request.state.model = body.model
    if is_preload_only(request.headers):
        return await preload_response(request, body.model, None)
    services = services_of(request)
    history = services.responses.previous(body.previous_response_id).conversation \
        if body.previous_response_id else []
    items = input_items(body)
    tooling, stored = await tooling_request(services, messages_body(body, history + items))
    encoder = ResponseEncoder(body, emit=body.stream)

    def remember() -> None:
        if body.store:
            services.responses.put(encoder.response(), items, history + items + encoder.output)

    start, observer = generation.chat(tooling), generation_observer(request.state)
    if not body.stream:
        chunks = await generation.answer_chunks(services.scheduler, body.model, keep_alive=None, start=start,
                                                record=request.state, model=stored, observer=observer)
        for chunk in chunks:
            encoder.feed(chunk)
        remember()
        return json_response(encoder.response())
    opened = await Generation.open(services.scheduler, body.model, keep_alive=None, start=start,
                                   record=request.state, model=stored, observer=observer)

    async def events() -> AsyncIterator[bytes]:
        yield encoder.start()
        async for chunk in opened.chunks():
            event = encoder.feed(chunk)
            if event:
                yield event
        remember()

    return event_stream_response(events(), cleanup=opened.cleanup, error_event=_error_event(encoder))


@router.get("/responses/{response_id}")
async def get_response(request: Request, response_id: str) -> Response:
    return json_response(services_of(request).responses.get(response_id).response)


@router.get("/responses/{response_id}/input_items")
async def list_input_items(request: Request, response_id: str, order: str = "desc",
                           limit: str = "20", after: str | None = None) -> Response:
    # Checked here rather than typed, so a bad value is a 400 in OpenAI's envelope, not FastAPI's 422.
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"order: expected asc or desc, got {order[:40]!r}", param="order")
    count = int(limit) if limit.isascii() and limit.isdigit() and len(limit) <= 4 else 0
    if not 1 <= count <= MAX_LISTED_ITEMS:
        raise InvalidRequest(f"limit: expected 1 to {MAX_LISTED_ITEMS}", param="limit")
    items = list(services_of(request).responses.get(response_id).input_items)
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    page = items[:count]
    return json_response({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                          "last_id": page[-1]["id"] if page else None, "has_more": len(items) > count})


@router.delete("/responses/{response_id}")
async def delete_response(request: Request, response_id: str) -> Response:
    services_of(request).responses.delete(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})
