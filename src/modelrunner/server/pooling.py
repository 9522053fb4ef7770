"""Running embeddings and reranking on a model's runner of that mode, shared by every API's routes.

The one place these requests meet the scheduler (the generation/ package will own it once it lands)."""

from __future__ import annotations

from typing import Any

from modelrunner.core.embedding import EmbeddingInput, Embeddings, RankScores
from modelrunner.scheduler.scheduler import Scheduler


async def embed(scheduler: Scheduler, model: str, inputs: list[EmbeddingInput], *, truncate: bool,
                keep_alive: str | None, state: Any) -> Embeddings:
    """Vectors from the model's embedding runner, loaded on demand beside its other runners."""
    async with scheduler.acquire(model, keep_alive=keep_alive, mode="embedding") as lease:
        state.served_model = lease.label
        return await lease.runner.embed(inputs, truncate=truncate, context_size=lease.context_size)


async def rank(scheduler: Scheduler, model: str, query: str, documents: list[str], *,
               keep_alive: str | None, state: Any) -> RankScores:
    """Scores from the model's reranking runner; a model without a ranking head is refused at load."""
    async with scheduler.acquire(model, keep_alive=keep_alive, mode="reranking") as lease:
        state.served_model = lease.label
        return await lease.runner.rank(query, documents, context_size=lease.context_size)
