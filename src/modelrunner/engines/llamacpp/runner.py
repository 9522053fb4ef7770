"""A loaded llama.cpp model: the worker process plus an HTTP client speaking to it over loopback."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelrunner.core.chat import (
    ChatRequest,
    CompletionRequest,
    EngineChunk,
    Finish,
    Sampling,
    TextDelta,
    Usage,
)
from modelrunner.core.embedding import EmbeddingInput, Embeddings, RankScores
from modelrunner.core.errors import ContextOverflow, EngineFailed, InvalidRequest, Unsupported, UnusableSchema
from modelrunner.engines import template_probe
from modelrunner.engines.base import Capabilities, RunnerMode
from modelrunner.engines.llamacpp.process import WorkerProcess
from modelrunner.engines.llamacpp.prompt_tokens import PromptTokenCounter
from modelrunner.engines.llamacpp.worker_http import MAX_IDLE_CONNECTIONS, WorkerConnectionError, WorkerHttp
from modelrunner.engines.openai_wire import chat_body, completion_body, decode_chunk, usage_from_timings
from modelrunner.engines.sse_lines import iter_lines
from modelrunner.engines.stop_sequences import StopSequenceMatcher

logger = logging.getLogger(__name__)

_DATA_PREFIX = b"data: "
_ERROR_PREFIX = b"error: "
_DONE = b"[DONE]"
_MEDIA_FETCH_FAILED = "cannot make GET request"
_INPUT_TOO_LARGE = re.compile(r"input \((?P<tokens>\d+) tokens\) is too large")
# llama.cpp answers a 500 when it cannot read the request it was given (its JSON accessors throw, its
# tool and message parsers raise runtime errors): these are the caller's input, so a 400 quoting the reason.
_INPUT_REJECTIONS = ("[json.exception.", "Failed to parse", "Missing tool", "Unsupported tool type",
                     "Unsupported content part type", "Invalid ", "Expected ", "Unable to generate parser",
                     "must be a", "must be an", "must not be", "unsupported type", "is not supported")
_GRAMMAR_FAILURES = ("empty grammar stack", "failed to parse grammar", "Failed to initialize samplers")
_SCHEMA_FAILURE = "JSON schema"  # llama.cpp's converter: "JSON schema error at #/...", "... conversion failed"

def engine_error(status: int, payload: bytes | dict[str, Any], label: str) -> Exception:
    """Map an error answer of llama.cpp's server onto our hierarchy."""
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            payload = {"error": {"message": payload.decode("utf-8", "replace")}}
    error = payload.get("error", payload) if isinstance(payload, dict) else {}
    message = str(error.get("message") or "the engine failed")
    kind = error.get("type")
    if kind == "exceed_context_size_error":
        return ContextOverflow(int(error.get("n_prompt_tokens") or 0), int(error.get("n_ctx") or 0))
    too_large = _INPUT_TOO_LARGE.search(message)
    if too_large is not None:  # an embedding or rerank input longer than the batch, which is the context
        return ContextOverflow(int(too_large.group("tokens")), 0)
    if _MEDIA_FETCH_FAILED in message:  # llama.cpp fetches image URLs itself and answers a 500 when it cannot
        return InvalidRequest(f"could not fetch an image from its URL ({message}); send it as base64 data instead")
    if any(failure in message for failure in _GRAMMAR_FAILURES) or _SCHEMA_FAILURE in message:
        # A schema llama.cpp cannot convert (a `$ref` it cannot follow, a repetition too large), or an
        # unsatisfiable one that reaches it as a grammar accepting no token: the request's fault.
        return UnusableSchema("a JSON schema of this request (a tool's input_schema or the output format) "
                              f"cannot constrain the model's output: {message}", reason=message)
    if kind == "not_supported_error" or status == 501:
        return Unsupported(message)
    if status == 400 or kind == "invalid_request_error":
        return InvalidRequest(message)
    if any(marker in message for marker in _INPUT_REJECTIONS):
        return InvalidRequest(f"the engine refused the request: {message}")
    return EngineFailed(f"{label}: {message}")


class LlamaCppRunner:
    def __init__(self, worker: WorkerProcess, *, label: str, special_tokens: tuple[str, ...] | None,
                 has_vision: bool, mode: RunnerMode = "completion",
                 idle_connections: int = MAX_IDLE_CONNECTIONS) -> None:
        assert worker.url is not None
        self._worker = worker
        self._label = label
        self._special_token_texts = special_tokens
        self._has_vision = has_vision
        self._mode = mode
        self._capabilities: Capabilities | None = None
        self._prompt_tokens = PromptTokenCounter(self._tokenize, self._special_tokens)
        self._wire = WorkerHttp(worker.url, max_idle=idle_connections)

    @property
    def is_alive(self) -> bool:
        return self._worker.is_running

    @property
    def has_vision(self) -> bool:
        return self._has_vision

    async def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            renders_tools = await template_probe.renders_tools(self.render_prompt)
            self._capabilities = Capabilities(renders_tools=renders_tools, vision=self._has_vision,
                                              embeddings=self._mode == "embedding",
                                              renders_parallel_calls=renders_tools
                                              and await template_probe.renders_parallel_calls(self.render_prompt))
        return self._capabilities

    @property
    def pid(self) -> int:
        return self._worker.pid

    @property
    def log_lines(self) -> list[str]:
        return self._worker.log_lines

    async def is_healthy(self, timeout_s: float) -> bool:
        """Whether the worker answers its /health in time: a hung worker is alive but does not."""
        if not self.is_alive:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                status, _ = await self._wire.request("GET", "/health")
        except (WorkerConnectionError, TimeoutError):
            return False
        return status == 200

    async def stop(self) -> None:
        await self._wire.aclose()
        await self._worker.stop()

    def kill(self) -> None:
        self._worker.kill()

    async def wait_exited(self) -> int:
        return await self._worker.wait()

    def chat(self, request: ChatRequest) -> AsyncIterator[EngineChunk]:
        return self._generate("/v1/chat/completions", chat_body(request), request.sampling)

    def complete(self, request: CompletionRequest) -> AsyncIterator[EngineChunk]:
        return self._generate("/v1/completions", completion_body(request), request.sampling)

    async def chat_answer(self, request: ChatRequest) -> list[EngineChunk]:
        # llama.cpp's whole answer to a prefill (a last assistant message it continues) starts with the
        # prefill, and is parsed with it, where its stream carries only what follows: those stream.
        if request.messages and request.messages[-1].get("role") == "assistant":
            return [chunk async for chunk in self.chat(request)]
        return await self._whole_answer("/v1/chat/completions", chat_body(request), request.sampling)

    async def completion_answer(self, request: CompletionRequest) -> list[EngineChunk]:
        return await self._whole_answer("/v1/completions", completion_body(request), request.sampling)

    async def render_prompt(self, request: ChatRequest) -> str:
        body = chat_body(request)
        body.pop("stream", None)
        body.pop("stream_options", None)
        answer = await self._post("/apply-template", body)
        return str(answer["prompt"])

    async def count_tokens(self, text: str) -> int:
        return await self._prompt_tokens.count(text)

    async def count_prompt_tokens(self, request: ChatRequest) -> int:
        return await self.count_tokens(await self.render_prompt(request))

    def describe(self) -> dict[str, Any]:
        return {}

    async def _tokenize(self, text: str, *, add_special: bool) -> int:
        return len(await self._token_ids(text, add_special=add_special))

    async def _token_ids(self, text: str, *, add_special: bool) -> list[int]:
        answer = await self._post("/tokenize", {"content": text, "add_special": add_special, "parse_special": True})
        return list(answer["tokens"])

    async def embed(self, inputs: list[EmbeddingInput], *, truncate: bool, context_size: int) -> Embeddings:
        """Unit-length vectors from llama.cpp's pooled embeddings. An input longer than the context is
        refused, or with `truncate` cut to the context's first tokens and evaluated again."""
        try:
            answer = await self._post("/v1/embeddings", {"input": inputs, "encoding_format": "float"})
        except ContextOverflow as exc:
            if not truncate:
                raise ContextOverflow(exc.prompt_tokens, context_size) from None
            answer = await self._post("/v1/embeddings", {"input": await self._truncated(inputs, context_size)})
        rows = sorted(answer["data"], key=lambda row: row["index"])
        return Embeddings(vectors=[row["embedding"] for row in rows],
                          prompt_tokens=int((answer.get("usage") or {}).get("prompt_tokens") or 0))

    async def _truncated(self, inputs: list[EmbeddingInput], context_size: int) -> list[list[int]]:
        tokens = [item if isinstance(item, list) else await self._token_ids(item, add_special=True)
                  for item in inputs]
        return [ids[:context_size] for ids in tokens]

    async def rank(self, query: str, documents: list[str], *, context_size: int) -> RankScores:
        """Relevance of each document to `query` from the model's ranking head, in document order."""
        try:
            answer = await self._post("/v1/rerank", {"query": query, "documents": documents,
                                                     "top_n": len(documents)})
        except ContextOverflow as exc:
            raise ContextOverflow(exc.prompt_tokens, context_size) from None
        scores = [0.0] * len(documents)
        for row in answer["results"]:
            scores[int(row["index"])] = float(row["relevance_score"])
        return RankScores(scores=scores, prompt_tokens=int((answer.get("usage") or {}).get("prompt_tokens") or 0))

    async def _special_tokens(self) -> list[str]:
        if self._special_token_texts is None:
            logger.warning("the special tokens of %s are unknown: counting whole prompts", self._label)
            return []
        return list(self._special_token_texts)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            status, content = await self._wire.request("POST", path, orjson.dumps(body))
        except WorkerConnectionError as exc:
            raise self._transport_failure(exc) from exc
        if status != 200:
            raise engine_error(status, content, self._label)
        return orjson.loads(content)

    def _transport_failure(self, exc: Exception) -> EngineFailed:
        if not self.is_alive:
            return EngineFailed(f"the worker for {self._label} stopped unexpectedly", retryable=True)
        return EngineFailed(f"lost the connection to the worker for {self._label}: {exc}", retryable=True)

    async def _generate(self, path: str, body: dict[str, Any], sampling: Sampling) -> AsyncIterator[EngineChunk]:
        matcher = StopSequenceMatcher(sampling.stop)
        if matcher.is_active:
            body["timings_per_token"] = True  # usage stays exact when we cut the stream at a match
        finish: Finish | None = None
        usage: Usage | None = None
        last_timings: dict[str, Any] | None = None
        try:
            async with self._wire.stream("POST", path, orjson.dumps(body)) as response:
                if response.status_code != 200:
                    raise engine_error(response.status_code, await response.read(), self._label)
                is_done = False
                async for line in iter_lines(response.chunks()):
                    if is_done:  # only the end of the framing is left: read, so that the connection is reused
                        continue
                    if not line.startswith(_DATA_PREFIX):
                        if line.startswith(_ERROR_PREFIX):
                            raise engine_error(500, line[len(_ERROR_PREFIX):], self._label)
                        continue
                    data = line[len(_DATA_PREFIX):]
                    if data == _DONE:
                        is_done = True
                        continue
                    payload = orjson.loads(data)
                    if "error" in payload:
                        raise engine_error(500, payload, self._label)
                    last_timings = payload.get("timings") or last_timings
                    for chunk in decode_chunk(payload):
                        kind = type(chunk)
                        if kind is TextDelta and matcher.is_active:
                            text, matched = matcher.feed(chunk.text)
                            if text:
                                yield TextDelta(text)
                            if matched is not None:
                                early = usage_from_timings(last_timings)
                                if early is not None:
                                    yield early
                                yield Finish("stop", stop_sequence=matched)
                                return
                        elif kind is Finish:
                            finish = chunk
                        elif kind is Usage:
                            usage = chunk
                        else:
                            yield chunk
        except WorkerConnectionError as exc:
            await asyncio.sleep(0)
            raise self._transport_failure(exc) from exc
        held = matcher.flush()
        if held:
            yield TextDelta(held)
        for chunk in self._ending(finish, usage, sampling):
            yield chunk

    async def _whole_answer(self, path: str, body: dict[str, Any], sampling: Sampling) -> list[EngineChunk]:
        """The answer asked for in one piece: one read, on a connection the worker keeps open, instead
        of a stream read token by token on a connection it closes (about 0.9 ms of server CPU less for
        a short answer). Streams stay for stop sequences, which are matched here and cut generation."""
        if StopSequenceMatcher(sampling.stop).is_active:
            return [chunk async for chunk in self._generate(path, body, sampling)]
        body["stream"] = False
        body.pop("stream_options", None)
        chunks: list[EngineChunk] = []
        finish: Finish | None = None
        usage: Usage | None = None
        for chunk in decode_chunk(await self._post(path, body)):
            kind = type(chunk)
            if kind is Finish:
                finish = chunk
            elif kind is Usage:
                usage = chunk
            else:
                chunks.append(chunk)
        return chunks + self._ending(finish, usage, sampling)

    def _ending(self, finish: Finish | None, usage: Usage | None, sampling: Sampling) -> list[EngineChunk]:
        """Usage, then the finish: `length` short of max_tokens is the context running out."""
        if finish is None:
            raise EngineFailed(f"the worker for {self._label} ended the answer without finishing it", retryable=True)
        if usage is None:
            return [finish]
        if finish.reason == "length" and (sampling.max_tokens is None or usage.completion_tokens < sampling.max_tokens):
            finish = Finish("context_window")
        return [usage, finish]
