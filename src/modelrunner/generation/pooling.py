"""Embeddings and reranking, shared by every API's routes: the same lease as a generation, on the
model's runner of that mode (loaded on demand beside its chat runner), with the usage noted for the
access log."""

from __future__ import annotations

from modelrunner.core.embedding import EmbeddingInput, Embeddings, RankScores
from modelrunner.generation.context import UsageRecord
from modelrunner.scheduler.scheduler import Scheduler


async def embed(scheduler: Scheduler, model: str, inputs: list[EmbeddingInput], *, truncate: bool,
                keep_alive: str | None, record: UsageRecord) -> Embeddings:
    """Vectors from the model's embedding runner."""
    async with await scheduler.reserve(model, keep_alive=keep_alive, mode="embedding") as lease:
        record.served_model = lease.label
        result = await lease.runner.embed(inputs, truncate=truncate, context_size=lease.context_size)
    record.prompt_tokens = result.prompt_tokens
    return result


async def rank(scheduler: Scheduler, model: str, query: str, documents: list[str], *,
               keep_alive: str | None, record: UsageRecord) -> RankScores:
    """Scores from the model's reranking runner; a model without a ranking head is refused at load."""
    async with await scheduler.reserve(model, keep_alive=keep_alive, mode="reranking") as lease:
        record.served_model = lease.label
        result = await lease.runner.rank(query, documents, context_size=lease.context_size)
    record.prompt_tokens = result.prompt_tokens
    return result
