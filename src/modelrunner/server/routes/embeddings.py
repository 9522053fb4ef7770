"""Embeddings (`/embeddings` beside the OpenAI routes) and reranking (`/rerank`, `/score`), both in
OpenAI's error envelope."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.dialects.openai.embeddings import EmbeddingsBody, embedding_inputs, embeddings_answer
from modelrunner.dialects.openai.rerank import RerankBody, document_texts, rerank_answer
from modelrunner.generation import pooling
from modelrunner.server.apis import OPENAI_ROUTE
from modelrunner.server.bodies import read_body
from modelrunner.server.responses import json_response
from modelrunner.server.services import services_of

router = APIRouter(route_class=OPENAI_ROUTE)
"""Mounted with the OpenAI routes."""
rerank_router = APIRouter(route_class=OPENAI_ROUTE)
"""Mounted at the root and under `/engines`, `/engines/{backend}` and `/v1`."""


@router.post("/embeddings")
async def embeddings(request: Request) -> Response:
    body = await read_body(request, EmbeddingsBody)
    request.state.model = body.model
    inputs = embedding_inputs(body.input)
    result = await pooling.embed(services_of(request).scheduler, body.model, inputs, truncate=False,
                                 keep_alive=None, record=request.state)
    return json_response(embeddings_answer(result, model=body.model, encoding_format=body.encoding_format,
                                           dimensions=body.dimensions))


@rerank_router.post("/rerank")
@rerank_router.post("/score")
async def rerank(request: Request) -> Response:
    body = await read_body(request, RerankBody)
    request.state.model = body.model
    texts = document_texts(body.documents)
    scores = await pooling.rank(services_of(request).scheduler, body.model, body.query, texts,
                                keep_alive=None, record=request.state)
    return json_response(rerank_answer(scores, texts, model=body.model, top_n=body.top_n,
                                       return_documents=body.return_documents))
