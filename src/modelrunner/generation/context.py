"""One generation, the same for every API: lease the model's runner, plan how tools and structured
output reach it (from the runner's capabilities), stream the engine's chunks with tool calls decoded,
note the usage for the access log, and give everything back in order when the answer ends or the
client leaves. Routes parse and translate before, and encode after; batches and recorders call the
same three entry points: `Generation.open`, `chat`/`completion` (what to start), `Generation.complete`."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from modelrunner.core.answer import AnswerGatherer, CompletedAnswer
from modelrunner.core.chat import ChatRequest, CompletionRequest, EngineChunk, Usage
from modelrunner.core.errors import UnusableSchema
from modelrunner.core.tools import ToolingRequest
from modelrunner.generation.plan import ToolPlan, has_parallel_calls, plan_tools
from modelrunner.generation.tool_calls import ToolCallDecoder, tool_call_decoder
from modelrunner.scheduler.admission import Yielding
from modelrunner.scheduler.runner_slot import Lease, ResolvedModel
from modelrunner.scheduler.scheduler import Scheduler



@dataclass(frozen=True, slots=True)
class EngineStream:
    """The engine's chunks for one request, and how to decode their tool calls (None: they pass as they are)."""

    chunks: AsyncIterator[EngineChunk]
    decoder: ToolCallDecoder | None = None


Start = Callable[[Lease, "Observer"], Awaitable[EngineStream]]
"""What to run once a runner is leased: the engine stream of one chat or completion, told to the observer."""


@dataclass(frozen=True)
class Observer:
    """How a caller above (the server's request recorder) watches a generation without generation/
    knowing it: `engine_request` is told the lease and the exact request sent to its runner (after
    the tool plan), `chunk` sees every chunk the engine yields."""

    chunk: Callable[[EngineChunk], None] | None = None
    engine_request: Callable[[Lease, ChatRequest | CompletionRequest], None] | None = None


UNOBSERVED = Observer()


class UsageRecord(Protocol):
    """Where a generation notes what the access log says of it (the request's state)."""

    served_model: str
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int


async def plan_for(lease: Lease, request: ToolingRequest) -> ToolPlan:
    """The engine request for this runner: tools native when its template renders them, else prompted;
    a turn of several calls split into one turn per call when the template renders only one."""
    capabilities = await lease.runner.capabilities()
    native = bool(request.tools) and capabilities.renders_tools
    parallel = not (native and has_parallel_calls(request.chat.messages)) or capabilities.renders_parallel_calls
    plan: ToolPlan | None = request.plans.get((native, parallel))
    if plan is None:
        plan = request.plans[native, parallel] = plan_tools(request, native_tools=native, parallel_calls=parallel)
    return plan


async def _chat_stream(lease: Lease, request: ToolingRequest, whole_answer: bool,
                       observer: Observer) -> EngineStream:
    plan = await plan_for(lease, request)
    engine_request = dataclasses.replace(plan.chat, whole_answer=True) if whole_answer else plan.chat
    if observer.engine_request is not None:
        observer.engine_request(lease, engine_request)
    return EngineStream(lease.runner.chat(engine_request), tool_call_decoder(plan))


def chat(request: ToolingRequest, *, whole_answer: bool = False) -> Start:
    """A chat generation whose tool calls come out as ToolCallDelta, whatever the model's template.
    `whole_answer`: the caller sends nothing before the answer ends (see ChatRequest.whole_answer)."""
    return lambda lease, observer: _chat_stream(lease, request, whole_answer, observer)


async def _completion_stream(lease: Lease, request: CompletionRequest, observer: Observer) -> EngineStream:
    if observer.engine_request is not None:
        observer.engine_request(lease, request)
    return EngineStream(lease.runner.complete(request))


def completion(request: CompletionRequest, *, whole_answer: bool = False) -> Start:
    engine_request = dataclasses.replace(request, whole_answer=True) if whole_answer else request
    return lambda lease, observer: _completion_stream(lease, engine_request, observer)


async def _generation(leased: Lease, start: Start, record: UsageRecord,
                      observer: Observer) -> AsyncIterator[EngineChunk]:
    """The one loop of every generation: start the engine, decode its chunks' tool calls, note the usage
    for the access log, show each chunk to the observer, and close the engine stream at the end.
    One generator, not one per step: each layer of async generators costs every chunk a resumption."""
    started = await start(leased, observer)
    engine, decoder, note_chunk = started.chunks, started.decoder, observer.chunk
    try:
        async for engine_chunk in engine:
            for chunk in (engine_chunk,) if decoder is None else decoder.feed(engine_chunk):
                if note_chunk is not None:
                    note_chunk(chunk)
                if type(chunk) is Usage:
                    record.prompt_tokens = chunk.prompt_tokens
                    record.completion_tokens = chunk.completion_tokens
                    record.cached_prompt_tokens = chunk.cached_prompt_tokens
                yield chunk
    except UnusableSchema as exc:
        if decoder is None:
            raise
        raise decoder.refusal(exc) from None
    finally:
        await engine.aclose()  # type: ignore[attr-defined]


async def _prepend(first: EngineChunk, rest: AsyncIterator[EngineChunk]) -> AsyncIterator[EngineChunk]:
    yield first
    async for chunk in rest:
        yield chunk


async def lease(scheduler: Scheduler, requested: str, *, keep_alive: str | None,
                model: ResolvedModel | None = None,
                yielding: Yielding | None = None) -> tuple[Lease, contextlib.AsyncExitStack]:
    """A generation slot on the model's runner (loading it if needed), returned when the stack closes.
    `model`: the stored model `requested` was already resolved to, if the route needed it earlier;
    `yielding`: background work (batches), which gives its slot up to interactive requests."""
    stack = contextlib.AsyncExitStack()
    try:
        leased = await stack.enter_async_context(scheduler.acquire(requested, keep_alive=keep_alive, model=model,
                                                                   yielding=yielding))
    except BaseException:
        await stack.aclose()
        raise
    return leased, stack


async def preload(scheduler: Scheduler, requested: str, *, keep_alive: str | None = None) -> Lease:
    """Load the model and give the slot straight back (`x-preload-only`, Ollama's empty prompt)."""
    leased, stack = await lease(scheduler, requested, keep_alive=keep_alive)
    await stack.aclose()
    return leased


def begin(leased: Lease, stack: contextlib.AsyncExitStack, start: Start,
          record: UsageRecord, observer: Observer | None = None) -> AsyncIterator[EngineChunk]:
    """Start the engine stream under `stack`, so it is closed before the lease is returned."""
    record.served_model = leased.label
    chunks = _generation(leased, start, record, observer or UNOBSERVED)
    stack.push_async_callback(chunks.aclose)
    return chunks


@dataclass
class Generation:
    """A generation that has produced its first chunk. `cleanup` closes the engine stream and
    returns the lease, in that order."""

    lease: Lease
    first: EngineChunk
    rest: AsyncIterator[EngineChunk]
    cleanup: contextlib.AsyncExitStack

    @classmethod
    async def open(cls, scheduler: Scheduler, requested: str, *, keep_alive: str | None, start: Start,
                   record: UsageRecord, model: ResolvedModel | None = None, yielding: Yielding | None = None,
                   observer: Observer | None = None) -> Generation:
        """Lease the runner, start the engine, and wait for the first chunk, so that load failures and
        engine refusals (context overflow...) surface as errors before any byte is answered."""
        leased, stack = await lease(scheduler, requested, keep_alive=keep_alive, model=model, yielding=yielding)
        try:
            chunks = begin(leased, stack, start, record, observer)
            first = await anext(chunks)
        except BaseException:
            await stack.aclose()
            raise
        return cls(lease=leased, first=first, rest=chunks, cleanup=stack)

    def chunks(self) -> AsyncIterator[EngineChunk]:
        """Every chunk of the answer, the first included, for a caller that streams them."""
        return _prepend(self.first, self.rest)

    async def complete(self) -> CompletedAnswer:
        """The whole answer, with the lease returned once it is gathered."""
        async with self.cleanup:
            gatherer = AnswerGatherer()
            gatherer.add(self.first)
            async for chunk in self.rest:
                gatherer.add(chunk)
            return gatherer.answer()
