"""One generation, the same for every API: lease the model's runner, plan how tools and structured
output reach it (from the runner's capabilities), run the engine with tool calls decoded from its
chunks, note the usage for the access log, and give everything back in order when the answer ends or
the client leaves. Routes parse and translate before, and encode after. What to run is `chat` or
`completion`; a reply not streamed is `answer_chunks`, a streamed one `Generation.open` (and
`Generation.complete` for batches, which stream from the engine so that they can be preempted)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from modelrunner.core.answer import AnswerGatherer, CompletedAnswer
from modelrunner.core.chat import ChatRequest, CompletionRequest, EngineChunk, Usage
from modelrunner.core.errors import UnusableSchema
from modelrunner.core.tools import ToolingRequest
from modelrunner.engines.base import Runner
from modelrunner.generation.plan import ToolPlan, has_parallel_calls, plan_tools
from modelrunner.generation.tool_calls import ToolCallDecoder, tool_call_decoder
from modelrunner.scheduler.admission import Yielding
from modelrunner.scheduler.runner_slot import Lease, ResolvedModel
from modelrunner.scheduler.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class EngineCall:
    """The request for the leased runner, planned, and how to decode its answer's tool calls (None: its
    chunks pass as they are). Entered as a context, it names the owner of a schema the engine refuses."""

    request: ChatRequest | CompletionRequest
    decoder: ToolCallDecoder | None = None

    def stream(self, runner: Runner) -> AsyncIterator[EngineChunk]:
        if type(self.request) is ChatRequest:
            return runner.chat(self.request)
        return runner.complete(self.request)  # type: ignore[arg-type]

    async def answer(self, runner: Runner) -> list[EngineChunk]:
        if type(self.request) is ChatRequest:
            return await runner.chat_answer(self.request)
        return await runner.completion_answer(self.request)  # type: ignore[arg-type]

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if isinstance(exc, UnusableSchema) and self.decoder is not None:
            named = self.decoder.refusal(exc)
            if named is not exc:
                raise named from None


Start = Callable[[Lease, "Observer"], Awaitable[EngineCall]]
"""What to run once a runner is leased: one chat or completion, planned for it and told to the observer."""


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


async def _chat_call(lease: Lease, request: ToolingRequest, observer: Observer) -> EngineCall:
    plan = await plan_for(lease, request)
    if observer.engine_request is not None:
        observer.engine_request(lease, plan.chat)
    return EngineCall(plan.chat, tool_call_decoder(plan))


def chat(request: ToolingRequest) -> Start:
    """A chat generation whose tool calls come out as ToolCallDelta, whatever the model's template."""
    return lambda lease, observer: _chat_call(lease, request, observer)


async def _completion_call(lease: Lease, request: CompletionRequest, observer: Observer) -> EngineCall:
    if observer.engine_request is not None:
        observer.engine_request(lease, request)
    return EngineCall(request)


def completion(request: CompletionRequest) -> Start:
    return lambda lease, observer: _completion_call(lease, request, observer)


class _Delivery:
    """What becomes of each chunk of the engine's answer, streamed or whole: its tool calls decoded,
    its usage noted for the access log, and each chunk that comes out shown to the observer."""

    __slots__ = ("_decoder", "_record", "_note_chunk")

    def __init__(self, decoder: ToolCallDecoder | None, record: UsageRecord, observer: Observer) -> None:
        self._decoder = decoder
        self._record = record
        self._note_chunk = observer.chunk

    def __call__(self, engine_chunk: EngineChunk) -> Sequence[EngineChunk]:
        chunks = (engine_chunk,) if self._decoder is None else self._decoder.feed(engine_chunk)
        for chunk in chunks:
            if self._note_chunk is not None:
                self._note_chunk(chunk)
            if type(chunk) is Usage:
                self._record.prompt_tokens = chunk.prompt_tokens
                self._record.completion_tokens = chunk.completion_tokens
                self._record.cached_prompt_tokens = chunk.cached_prompt_tokens
        return chunks


async def _streamed(leased: Lease, start: Start, record: UsageRecord,
                    observer: Observer) -> AsyncIterator[EngineChunk]:
    """The one loop of a streamed generation: one generator, not one per step, as each layer of async
    generators costs every chunk a resumption. The engine stream is closed when it ends."""
    call = await start(leased, observer)
    deliver = _Delivery(call.decoder, record, observer)
    engine = call.stream(leased.runner)
    try:
        with call:
            async for engine_chunk in engine:
                for chunk in deliver(engine_chunk):
                    yield chunk
    finally:
        await engine.aclose()  # type: ignore[attr-defined]


async def answer_chunks(scheduler: Scheduler, requested: str, *, keep_alive: str | None, start: Start,
                        record: UsageRecord, model: ResolvedModel | None = None,
                        observer: Observer | None = None) -> list[EngineChunk]:
    """The chunks of a reply not streamed, in order: the engine makes the answer in one piece (no
    stream, no generator on the way), and the lease is returned as soon as it is in. `model`: as for
    `lease`. `CompletedAnswer.gathered` makes them one answer."""
    observer = observer or UNOBSERVED
    async with await scheduler.reserve(requested, keep_alive=keep_alive, model=model) as leased:
        record.served_model = leased.label
        call = await start(leased, observer)
        with call:
            engine_chunks = await call.answer(leased.runner)
    deliver = _Delivery(call.decoder, record, observer)
    return [chunk for engine_chunk in engine_chunks for chunk in deliver(engine_chunk)]


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
        reservation = await scheduler.reserve(requested, keep_alive=keep_alive, model=model, yielding=yielding)
        leased = await stack.enter_async_context(reservation)
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
    chunks = _streamed(leased, start, record, observer or UNOBSERVED)
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
