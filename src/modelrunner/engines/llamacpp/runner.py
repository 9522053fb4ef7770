"""A loaded llama.cpp model: the worker process plus an HTTP client speaking to it over loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
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
from modelrunner.core.errors import ContextOverflow, EngineFailed, InvalidRequest, ModelRunnerError, Unsupported
from modelrunner.engines.base import Capabilities
from modelrunner.engines.llamacpp.process import WorkerProcess
from modelrunner.engines.llamacpp.prompt_tokens import PromptTokenCounter
from modelrunner.engines.openai_wire import chat_body, completion_body, decode_chunk
from modelrunner.engines.sse_lines import iter_lines
from modelrunner.engines.stop_sequences import StopSequenceMatcher

logger = logging.getLogger(__name__)

_DATA_PREFIX = b"data: "
_ERROR_PREFIX = b"error: "
_DONE = b"[DONE]"
_MEDIA_FETCH_FAILED = "cannot make GET request"
# llama.cpp answers a 500 when it cannot read the request it was given (its JSON accessors throw, its
# tool and message parsers raise runtime errors): these are the caller's input, so a 400 quoting the reason.
_INPUT_REJECTIONS = ("[json.exception.", "Failed to parse", "Missing tool", "Unsupported tool type",
                     "Unsupported content part type", "Invalid ", "Expected ", "Unable to generate parser",
                     "must be a", "must be an", "must not be", "unsupported type", "is not supported")
_GRAMMAR_FAILURES = ("empty grammar stack", "failed to parse grammar", "Failed to initialize samplers")
_PROBE_TOOL_NAME = "modelrunner_probe_tool"
_PROBE_TOOLS = [{"type": "function", "function": {
    "name": _PROBE_TOOL_NAME, "description": "probe",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}}]
_PROBE_MESSAGES = [{"role": "user", "content": "hello"}]
# A turn of two calls followed by their results: ending on the assistant turn would make it a prefill,
# which llama.cpp refuses to hold tool calls whatever the template, and every family would be split.
_PROBE_CALLS = [*_PROBE_MESSAGES, {"role": "assistant", "content": "", "tool_calls": [
    {"id": f"call0000{n}", "type": "function", "function": {"name": _PROBE_TOOL_NAME, "arguments": "{}"}}
    for n in (1, 2)
]}, *({"role": "tool", "tool_call_id": f"call0000{n}", "content": "ok"} for n in (1, 2))]


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
    if _MEDIA_FETCH_FAILED in message:  # llama.cpp fetches image URLs itself and answers a 500 when it cannot
        return InvalidRequest(f"could not fetch an image from its URL ({message}); send it as base64 data instead")
    if any(failure in message for failure in _GRAMMAR_FAILURES):
        # An unsatisfiable schema (a minimum above its maximum, say) reaches llama.cpp as a grammar
        # that cannot accept any token: the request's fault, not the engine's.
        return InvalidRequest("a JSON schema of this request (a tool's input_schema or the output format) "
                              f"cannot constrain the model's output: {message}")
    if kind == "not_supported_error" or status == 501:
        return Unsupported(message)
    if status == 400 or kind == "invalid_request_error":
        return InvalidRequest(message)
    if any(marker in message for marker in _INPUT_REJECTIONS):
        return InvalidRequest(f"the engine refused the request: {message}")
    return EngineFailed(f"{label}: {message}")


def _usage_from_timings(timings: dict[str, Any] | None) -> Usage | None:
    if not timings:
        return None
    cached = int(timings.get("cache_n") or 0)
    return Usage(
        prompt_tokens=int(timings.get("prompt_n") or 0) + cached,
        completion_tokens=int(timings.get("predicted_n") or 0),
        cached_prompt_tokens=cached,
    )


class LlamaCppRunner:
    def __init__(self, worker: WorkerProcess, *, label: str, special_tokens: tuple[str, ...] | None,
                 has_vision: bool, is_embedding: bool = False) -> None:
        assert worker.url is not None
        self._worker = worker
        self._label = label
        self._special_token_texts = special_tokens
        self._has_vision = has_vision
        self._is_embedding = is_embedding
        self._capabilities: Capabilities | None = None
        self._prompt_tokens = PromptTokenCounter(self._tokenize, self._special_tokens)
        self._client = httpx.AsyncClient(
            base_url=worker.url,
            timeout=httpx.Timeout(None, connect=10.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
            trust_env=False,
        )

    @property
    def is_alive(self) -> bool:
        return self._worker.is_running

    @property
    def has_vision(self) -> bool:
        return self._has_vision

    async def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            renders_tools = await self._renders_tools()
            self._capabilities = Capabilities(renders_tools=renders_tools, vision=self._has_vision,
                                              embeddings=self._is_embedding,
                                              renders_parallel_calls=renders_tools
                                              and await self._renders_parallel_calls())
        return self._capabilities

    async def _renders_tools(self) -> bool:
        """Templates that know nothing of tools ignore them silently: render a probe conversation with
        and without a tool, and see whether the tool shows."""
        plain = await self.render_prompt(ChatRequest(model="probe", messages=_PROBE_MESSAGES))
        with_tool = await self.render_prompt(ChatRequest(model="probe", messages=_PROBE_MESSAGES,
                                                         tools=_PROBE_TOOLS, tool_choice="auto"))
        return with_tool != plain and _PROBE_TOOL_NAME in with_tool

    async def _renders_parallel_calls(self) -> bool:
        """Whether the template renders two calls in one assistant turn: Llama 3.x's raises instead."""
        try:
            await self.render_prompt(ChatRequest(model="probe", messages=_PROBE_CALLS, tools=_PROBE_TOOLS,
                                                 tool_choice="auto"))
        except ModelRunnerError:
            return False
        return True

    @property
    def pid(self) -> int:
        return self._worker.pid

    @property
    def log_lines(self) -> list[str]:
        return list(self._worker.log_lines)

    async def is_healthy(self, timeout_s: float) -> bool:
        """Whether the worker answers its /health in time: a hung worker is alive but does not."""
        if not self.is_alive:
            return False
        try:
            response = await self._client.get("/health", timeout=timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def stop(self) -> None:
        await self._client.aclose()
        await self._worker.stop()

    def kill(self) -> None:
        self._worker.kill()

    async def wait_exited(self) -> int:
        return await self._worker.wait()

    def chat(self, request: ChatRequest) -> AsyncIterator[EngineChunk]:
        return self._generate("/v1/chat/completions", chat_body(request), request.sampling)

    def complete(self, request: CompletionRequest) -> AsyncIterator[EngineChunk]:
        return self._generate("/v1/completions", completion_body(request), request.sampling)

    async def render_prompt(self, request: ChatRequest) -> str:
        body = chat_body(request)
        body.pop("stream", None)
        body.pop("stream_options", None)
        answer = await self._post("/apply-template", body)
        return str(answer["prompt"])

    async def count_tokens(self, text: str) -> int:
        return await self._prompt_tokens.count(text)

    async def _tokenize(self, text: str, *, add_special: bool) -> int:
        answer = await self._post("/tokenize", {"content": text, "add_special": add_special, "parse_special": True})
        return len(answer["tokens"])

    async def _special_tokens(self) -> list[str]:
        if self._special_token_texts is None:
            logger.warning("the special tokens of %s are unknown: counting whole prompts", self._label)
            return []
        return list(self._special_token_texts)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(path, content=orjson.dumps(body),
                                                headers={"content-type": "application/json"})
        except httpx.TransportError as exc:
            raise self._transport_failure(exc) from exc
        if response.status_code != 200:
            raise engine_error(response.status_code, response.content, self._label)
        return orjson.loads(response.content)

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
            async with self._client.stream(
                "POST", path, content=orjson.dumps(body), headers={"content-type": "application/json"}
            ) as response:
                if response.status_code != 200:
                    raise engine_error(response.status_code, await response.aread(), self._label)
                async for line in iter_lines(response.aiter_raw()):
                    if not line.startswith(_DATA_PREFIX):
                        if line.startswith(_ERROR_PREFIX):
                            raise engine_error(500, line[len(_ERROR_PREFIX):], self._label)
                        continue
                    data = line[len(_DATA_PREFIX):]
                    if data == _DONE:
                        break
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
                                early = _usage_from_timings(last_timings)
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
        except httpx.TransportError as exc:
            await asyncio.sleep(0)
            raise self._transport_failure(exc) from exc
        held = matcher.flush()
        if held:
            yield TextDelta(held)
        if finish is None:
            raise EngineFailed(f"the worker for {self._label} ended the answer without finishing it", retryable=True)
        if usage is not None:
            yield usage
            if finish.reason == "length" and (
                sampling.max_tokens is None or usage.completion_tokens < sampling.max_tokens
            ):
                finish = Finish("context_window")
        yield finish
