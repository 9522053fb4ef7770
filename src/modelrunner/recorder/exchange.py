"""One request as it happens: references appended on the request path, nothing computed there.

Everything costly (decoding bodies, cutting images, rendering the prompt) happens only when someone reads
the record, which most exchanges never are."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from modelrunner.core.chat import ChatRequest, CompletionRequest, EngineChunk, Usage

MAX_RESPONSE_BYTES = 512 * 1024
"""Raw response bytes kept per exchange; a longer stream keeps its start and is marked truncated."""
MAX_CHUNKS = 50_000
"""Engine chunks kept per exchange to reassemble the answer; beyond that the answer is marked truncated."""


@dataclass(eq=False)
class Exchange:
    """What one HTTP exchange with a generation route sent and received, filled while it is served."""

    id: str
    api: str
    method: str
    route: str
    started_at: float = field(default_factory=time.time)
    started_s: float = field(default_factory=time.perf_counter)
    body_parts: list[bytes] = field(default_factory=list)
    status: int = 0
    response_media_type: str = ""
    response_parts: list[bytes] = field(default_factory=list)
    response_bytes: int = 0
    is_response_truncated: bool = False
    chunks: list[EngineChunk] = field(default_factory=list)
    are_chunks_truncated: bool = False
    first_chunk_s: float | None = None
    last_chunk_s: float | None = None
    finished_s: float | None = None
    requested_model: str | None = None
    served_model: str | None = None
    engine_request: ChatRequest | CompletionRequest | None = None
    runner: weakref.ReferenceType[Any] | None = None
    """The runner that served it, held weakly: a kept exchange never keeps an unloaded runner alive."""
    error: str | None = None

    @property
    def body_bytes(self) -> int:
        return sum(len(part) for part in self.body_parts)

    def note_chunk(self, chunk: EngineChunk) -> None:
        """Per token: one append. The clock is read at the first chunk and at the usage, which ends a
        generation: enough for the time to first token and the tokens per second."""
        if self.first_chunk_s is None or type(chunk) is Usage:
            now = time.perf_counter()
            self.first_chunk_s = self.first_chunk_s or now
            self.last_chunk_s = now
        if len(self.chunks) < MAX_CHUNKS:
            self.chunks.append(chunk)
        else:
            self.are_chunks_truncated = True

    def note_response_body(self, body: bytes) -> None:
        if not body:
            return
        if self.response_bytes + len(body) <= MAX_RESPONSE_BYTES:
            self.response_parts.append(body)
            self.response_bytes += len(body)
        else:
            self.is_response_truncated = True

    def note_engine_request(self, lease: Any, request: ChatRequest | CompletionRequest) -> None:
        """The generation's hook: the request its runner was sent (after the tool plan), and that runner."""
        self.engine_request = request
        try:
            self.runner = weakref.ref(lease.runner)
        except TypeError:  # a runner that cannot be referenced weakly: its prompts are not rendered later
            self.runner = None

    def finish(self) -> None:
        self.finished_s = time.perf_counter()
