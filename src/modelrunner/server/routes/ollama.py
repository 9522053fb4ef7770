"""The Ollama API under `/api`: chat and generate (NDJSON streams, streaming by default), the model
list, show, running models, pull, delete and version."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from modelrunner import __version__
from modelrunner.core.answer import CompletedAnswer
from modelrunner.core.chat import CompletionRequest
from modelrunner.core.tools import ToolingRequest
from modelrunner.core.errors import ModelRunnerError
from modelrunner.dialects.ollama import models as ollama_models
from modelrunner.dialects.ollama.embeddings import (
    EmbedBody,
    LegacyEmbeddingsBody,
    embed_answer,
    embed_inputs,
    legacy_answer,
    prompt_input,
)
from modelrunner.generation import context as generation
from modelrunner.generation import pooling
from modelrunner.generation.context import Generation
from modelrunner.dialects.ollama.protocol import ChatBody, GenerateBody, ModelBody, PullBody
from modelrunner.dialects.ollama.pull_progress import ollama_status
from modelrunner.dialects.ollama.responses import (
    Clock,
    Piece,
    chat_piece,
    generate_piece,
    ndjson_lines,
    now_rfc3339,
    whole,
)
from modelrunner.dialects.ollama.translate import to_chat_request, to_generate_request
from modelrunner.scheduler.keep_alive import parse_keep_alive
from modelrunner.server.apis import OLLAMA_ROUTE
from modelrunner.server.bodies import read_body
from modelrunner.server.errors import error_document
from modelrunner.server.recording import generation_observer
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of
from modelrunner.server.streaming import guarded_stream
from modelrunner.store import media_types
from modelrunner.store.gguf_metadata import read_gguf_summary

router = APIRouter(prefix="/api", route_class=OLLAMA_ROUTE)

NDJSON = "application/x-ndjson"


def _error_line(error: ModelRunnerError) -> bytes:
    return orjson.dumps(error_document("ollama", error)) + b"\n"


async def _load_or_unload(request: Request, model: str, keep_alive: str | None, piece: Piece) -> Response:
    """An empty prompt loads the model; with keep_alive 0 it unloads it (Ollama's idiom)."""
    scheduler = services_of(request).scheduler
    if parse_keep_alive(keep_alive) == 0:
        await scheduler.resolve(model)
        await scheduler.unload(models=[model])
        reason = "unload"
    else:
        await generation.preload(scheduler, model, keep_alive=keep_alive)
        reason = "load"
    return json_response({"model": model, "created_at": now_rfc3339(), **piece("", "", []),
                          "done": True, "done_reason": reason})


async def _answer(request: Request, internal: ToolingRequest | CompletionRequest, *, stream: bool,
                  piece: Piece) -> Response:
    if isinstance(internal, CompletionRequest):
        model, keep_alive, start = internal.model, internal.keep_alive, generation.completion(internal)
    else:
        model, keep_alive, start = internal.chat.model, internal.chat.keep_alive, generation.chat(internal)
    request.state.model = model
    clock = Clock()
    scheduler, observer = services_of(request).scheduler, generation_observer(request.state)
    if not stream:
        chunks = await generation.answer_chunks(scheduler, model, keep_alive=keep_alive, start=start,
                                                record=request.state, observer=observer)
        return json_response(whole(CompletedAnswer.gathered(chunks), model=model, piece=piece, clock=clock))
    opened = await Generation.open(scheduler, model, keep_alive=keep_alive, start=start, record=request.state,
                                   observer=observer)
    lines = ndjson_lines(opened.chunks(), model=model, piece=piece, clock=clock)
    return guarded_stream(lines, cleanup=opened.cleanup, error_event=_error_line, media_type=NDJSON)


@router.post("/chat")
async def chat(request: Request) -> Response:
    body = await read_body(request, ChatBody)
    if not body.messages:
        return await _load_or_unload(request, body.model, None if body.keep_alive is None else str(body.keep_alive),
                                     chat_piece)
    return await _answer(request, to_chat_request(body), stream=body.stream, piece=chat_piece)


@router.post("/generate")
async def generate(request: Request) -> Response:
    body = await read_body(request, GenerateBody)
    if not body.prompt and not body.images:
        return await _load_or_unload(request, body.model, None if body.keep_alive is None else str(body.keep_alive),
                                     generate_piece)
    return await _answer(request, to_generate_request(body), stream=body.stream, piece=generate_piece)


@router.get("/tags")
async def tags(request: Request) -> Response:
    return json_response(ollama_models.tags(await services_of(request).list_models()))


@router.post("/show")
async def show(request: Request) -> Response:
    body = await read_body(request, ModelBody)
    services = services_of(request)
    model = await services.find_model(body.model)
    ggufs = model.layers_of(media_types.GGUF)
    template = None
    if ggufs:
        summary = await asyncio.to_thread(read_gguf_summary, services.store.blob_path(ggufs[0]["digest"]))
        template = summary.chat_template
    return json_response(ollama_models.show(model, template))


@router.get("/ps")
async def running(request: Request) -> Response:
    services = services_of(request)
    by_id = {model.id: model for model in await services.list_models()}
    entries = [ollama_models.running_entry(by_id[runner["model_id"]], runner)
               for runner in services.scheduler.snapshot() if runner["model_id"] in by_id]
    return json_response({"models": entries})


@router.post("/pull")
async def pull(request: Request) -> Response:
    body = await read_body(request, PullBody)
    events = await services_of(request).distribution.pull(body.model, keep_partial=body.keep_partial)
    if body.stream:
        async def lines() -> AsyncIterator[bytes]:
            async for event in events:
                yield orjson.dumps(ollama_status(event)) + b"\n"

        return StreamingResponse(lines(), media_type=NDJSON)
    last: dict[str, Any] = {}
    async for event in events:
        last = ollama_status(event)
    return json_response(last, status_code=500 if "error" in last else 200)


@router.delete("/delete")
async def delete(request: Request) -> Response:
    body = await read_body(request, ModelBody)
    services = services_of(request)
    model = await services.find_model(body.model)
    lines = await services.distribution.remove(body.model, force=False)
    if any(line.startswith("Deleted: ") for line in lines):
        await services.scheduler.unload_ids({model.id})
    return Response(status_code=200)


@router.get("/version")
async def version() -> Response:
    return json_response({"version": __version__})


def _keep_alive(value: str | int | float | None) -> str | None:
    return None if value is None else str(value)


@router.post("/embed")
async def embed(request: Request) -> Response:
    body = await read_body(request, EmbedBody)
    request.state.model = body.model
    started_ns = time.monotonic_ns()
    inputs = embed_inputs(body.input)
    result = await pooling.embed(services_of(request).scheduler, body.model, list(inputs), truncate=body.truncate,
                                 keep_alive=_keep_alive(body.keep_alive), record=request.state)
    return json_response(embed_answer(result, model=body.model, dimensions=body.dimensions,
                                      total_ns=time.monotonic_ns() - started_ns, load_ns=0))


@router.post("/embeddings")
async def embeddings(request: Request) -> Response:
    body = await read_body(request, LegacyEmbeddingsBody)
    request.state.model = body.model
    inputs = prompt_input(body.prompt)
    result = await pooling.embed(services_of(request).scheduler, body.model, list(inputs), truncate=True,
                                 keep_alive=_keep_alive(body.keep_alive), record=request.state)
    return json_response(legacy_answer(result))
