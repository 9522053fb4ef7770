"""The interface between the scheduler and the engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from modelrunner.core.chat import ChatRequest, CompletionRequest, EngineChunk
from modelrunner.core.embedding import EmbeddingInput, Embeddings, RankScores

RunnerMode = Literal["completion", "embedding", "reranking"]
"""What a runner is started for: a model may have one runner per mode, each loaded on demand."""
RUNNER_MODES: tuple[RunnerMode, ...] = ("completion", "embedding", "reranking")


@dataclass(frozen=True)
class RunnerConfig:
    """How to run one model: the per-model settings the scheduler resolved."""

    context_size: int
    parallel_slots: int = 4
    threads: int = 1
    reasoning_budget_tokens: int | None = None
    runtime_settings: dict[str, Any] = field(default_factory=dict)
    mode: RunnerMode = "completion"


@dataclass(frozen=True)
class ModelFiles:
    """The files an engine opens for a model: what the store's bundle provides."""

    model_id: str
    gguf_path: Path
    mmproj_path: Path | None = None
    chat_template_path: Path | None = None


class Runner(Protocol):
    """A loaded model that serves generations until it is stopped."""

    @property
    def is_alive(self) -> bool: ...

    @property
    def has_vision(self) -> bool: ...

    def chat(self, request: ChatRequest) -> AsyncIterator[EngineChunk]:
        """Stream the chunks of one chat generation. Closing the iterator cancels the generation."""
        ...

    def complete(self, request: CompletionRequest) -> AsyncIterator[EngineChunk]: ...

    async def render_prompt(self, request: ChatRequest) -> str:
        """The exact prompt text generation would feed the model for `request`."""
        ...

    async def count_tokens(self, text: str) -> int: ...

    async def embed(self, inputs: list[EmbeddingInput], *, truncate: bool, context_size: int) -> Embeddings:
        """Normalised vectors for `inputs`, in order (an embedding-mode runner only)."""
        ...

    async def rank(self, query: str, documents: list[str], *, context_size: int) -> RankScores:
        """One relevance score per document, in order (a reranking-mode runner only)."""
        ...

    async def stop(self) -> None: ...


class Engine(Protocol):
    name: str

    async def start(self, files: ModelFiles, config: RunnerConfig, *, label: str) -> Runner:
        """Load a model and return a runner ready to serve, or raise ModelLoadFailed."""
        ...
