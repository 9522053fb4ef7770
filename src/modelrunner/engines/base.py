"""The interface between the scheduler and the engines: an `Engine` per kind of engine, a `Runner` per
loaded model. Everything engine-specific (flags, memory, status, capabilities, processes) sits behind
these two protocols, so the scheduler, the server and the dialects never name an engine's internals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from modelrunner.core.chat import ChatRequest, CompletionRequest, EngineChunk
from modelrunner.core.embedding import EmbeddingInput, Embeddings, RankScores

RunnerMode = Literal["completion", "embedding", "reranking"]
"""What a runner is started for: a model may have one runner per mode, each loaded on demand."""
RUNNER_MODES: tuple[RunnerMode, ...] = ("completion", "embedding", "reranking")


@dataclass(frozen=True)
class RunnerConfig:
    """How to run one model: the per-model settings the scheduler resolved. `runtime_settings` are the
    engine's own, as its `parse_runtime_flags` produced them; the other fields mean the same to every
    engine (`reasoning` False: the model must not think; `mode`: serve chat, embeddings or reranking;
    `trained_context_size`: the context the model was trained on, None when unknown; an engine asked for
    more stretches its positions its own way)."""

    context_size: int
    parallel_slots: int = 4
    threads: int = 1
    reasoning_budget_tokens: int | None = None
    runtime_settings: dict[str, Any] = field(default_factory=dict)
    reasoning: bool | None = None
    mode: RunnerMode = "completion"
    trained_context_size: int | None = None


@dataclass(frozen=True)
class ModelFiles:
    """The files an engine opens for a model: what the store's bundle provides."""

    model_id: str
    gguf_path: Path
    mmproj_path: Path | None = None
    chat_template_path: Path | None = None
    special_tokens: tuple[str, ...] | None = None
    """The tokenizer's control tokens when the store could read them (None: unknown)."""
    pooling_type: int | None = None
    """The sentence pooling the GGUF declares (`{arch}.pooling_type`), read for embedding and reranking runners."""
    has_ranking_head: bool = False
    """The GGUF has a classifier output (a reranker's), read for reranking runners."""


@dataclass(frozen=True)
class ModelDescription:
    """What an engine knows of a stored model before loading it: enough to estimate its memory."""

    architecture: str
    metadata: dict[str, Any]
    """Flattened GGUF metadata (`llama.block_count`...), as the store read it."""
    weights_bytes: int


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    prompt_cache_bytes: int = 0
    """Host memory the engine keeps for reusing prompts' state (llama.cpp's prompt cache)."""

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes + self.prompt_cache_bytes

    def to_api(self) -> dict[str, int]:
        return {"weights": self.weights_bytes, "kv_cache": self.kv_cache_bytes,
                "overhead": self.overhead_bytes, "prompt_cache": self.prompt_cache_bytes,
                "total": self.total_bytes}


@dataclass(frozen=True)
class ParsedFlags:
    """`runner` holds RunnerConfig fields (threads, parallel_slots...); `engine` the engine's own settings."""

    runner: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Capabilities:
    """What a loaded model can do, as generation needs to know it.
    `renders_tools`: its chat template describes tools and the engine parses the calls it writes;
    `constrained_decoding`: JSON-schema constraints (response formats, tool-call grammars) are honoured;
    `renders_parallel_calls`: the template renders two tool calls in one assistant turn (Llama 3.x's raises)."""

    renders_tools: bool = False
    vision: bool = False
    reasoning: bool = False
    embeddings: bool = False
    constrained_decoding: bool = True
    renders_parallel_calls: bool = True


class Runner(Protocol):
    """A loaded model that serves generations until it is stopped."""

    @property
    def is_alive(self) -> bool: ...

    @property
    def has_vision(self) -> bool: ...

    @property
    def pid(self) -> int | None:
        """The process serving the model, when it is a local process."""
        ...

    @property
    def log_lines(self) -> list[str]:
        """Recent lines of the engine's own log, newest last."""
        ...

    async def capabilities(self) -> Capabilities:
        """Learned once per runner (a probe may render a prompt), then answered from memory."""
        ...

    def chat(self, request: ChatRequest) -> AsyncIterator[EngineChunk]:
        """Stream the chunks of one chat generation. Closing the iterator cancels the generation."""
        ...

    def complete(self, request: CompletionRequest) -> AsyncIterator[EngineChunk]: ...

    async def chat_answer(self, request: ChatRequest) -> list[EngineChunk]:
        """The chunks of one chat generation whose caller sends nothing before it ends (a reply not
        streamed): an engine may make them in one piece, as fewer and larger chunks."""
        ...

    async def completion_answer(self, request: CompletionRequest) -> list[EngineChunk]: ...

    async def render_prompt(self, request: ChatRequest) -> str:
        """The exact prompt text generation would feed the model for `request`."""
        ...

    async def count_tokens(self, text: str) -> int: ...

    async def count_prompt_tokens(self, request: ChatRequest) -> int:
        """The tokens of the prompt generation would feed the model for `request` (`count_tokens` of
        `render_prompt` where the engine renders; an upstream that cannot count raises Unsupported)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Engine-specific fields for `/engines/ps` (a remote runner's replicas); {} when none."""
        ...

    async def is_healthy(self, timeout_s: float) -> bool:
        """Whether the runner answers in time: a hung one can be alive and still not."""
        ...

    def kill(self) -> None:
        """Stop at once, without waiting: the runner is broken."""
        ...

    async def embed(self, inputs: list[EmbeddingInput], *, truncate: bool, context_size: int) -> Embeddings:
        """Normalised vectors for `inputs`, in order (an embedding-mode runner only)."""
        ...

    async def rank(self, query: str, documents: list[str], *, context_size: int) -> RankScores:
        """One relevance score per document, in order (a reranking-mode runner only)."""
        ...

    async def stop(self) -> None: ...


SourceT = TypeVar("SourceT", contravariant=True)
"""What an engine starts a runner from: `ModelFiles` for llama.cpp, an upstream's record for remote."""


class Engine(Protocol[SourceT]):
    """One kind of engine: how to start runners and what it needs to know before it does."""

    name: str

    def __init__(self, *, load_timeout_s: float) -> None: ...

    async def start(self, source: SourceT, config: RunnerConfig, *, label: str) -> Runner:
        """Load a model and return a runner ready to serve, or raise ModelLoadFailed."""
        ...

    @staticmethod
    def parse_runtime_flags(flags: list[str]) -> ParsedFlags:
        """Validate a user's per-model flags; a refused flag raises InvalidRequest naming it."""
        ...

    def estimate_memory(self, model: ModelDescription, config: RunnerConfig) -> MemoryEstimate: ...

    def within_budget(self, model: ModelDescription, config: RunnerConfig, budget_bytes: int) -> RunnerConfig:
        """`config` with the engine's own memory extras (a host prompt cache) sized from the memory
        budget, so a runner never holds more than its estimate says."""
        ...

    def status(self) -> str:
        """One line for `/engines/status`: "Running: ..." or "Not Installed: ..."."""
        ...

    def disk_usage_bytes(self) -> int:
        """Bytes the engine's own installation takes (blocking: call it from a thread)."""
        ...


EngineType = type[Engine[Any]]
"""An engine class: the registry keeps these, the server builds one of each it needs."""
