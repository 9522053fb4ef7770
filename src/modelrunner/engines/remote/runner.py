"""A model served by an upstream's replicas: streams OpenAI chat completions from the replica the
request is given, into our engine chunks. Stop sequences are matched here (so a client learns which
one matched); a request that fails before its first chunk is retried on another replica; replicas
that fail leave the rotation and are probed until they answer again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
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
from modelrunner.core.embedding import EmbeddingInput, Embeddings, RankScores, unit_length
from modelrunner.core.errors import EngineFailed, ModelRunnerError, Overloaded, Unsupported
from modelrunner.engines import template_probe
from modelrunner.engines.base import Capabilities
from modelrunner.engines.openai_wire import chat_body, completion_body, usage_from_timings
from modelrunner.engines.remote.affinity import prefix_keys
from modelrunner.engines.remote.errors import upstream_error
from modelrunner.engines.remote.probe import discover_kind, server_root
from modelrunner.engines.remote.replicas import Replica, ReplicaSet
from modelrunner.engines.remote.stream_batches import decode_batch, relay_batches
from modelrunner.engines.remote.token_counting import anthropic_count_body, vllm_tokenize_body
from modelrunner.engines.remote.upstream import Upstream, UpstreamKind
from modelrunner.engines.remote.upstream_http import UpstreamHttp, UpstreamTransportError
from modelrunner.engines.stop_sequences import StopSequenceMatcher

logger = logging.getLogger(__name__)

_JSON = {"content-type": "application/json"}
_LLAMA_CPP_ONLY_FIELDS = ("grammar", "thinking_budget_tokens")

BodyForKind = Callable[[UpstreamKind], dict[str, Any]]


def _is_retryable_elsewhere(error: ModelRunnerError) -> bool:
    return isinstance(error, Overloaded) or (isinstance(error, EngineFailed) and error.retryable)


class RemoteRunner:
    def __init__(self, upstream: Upstream, *, label: str, api_key: str | None, health_interval_s: float,
                 connect_timeout_s: float, probe_timeout_s: float) -> None:
        self._upstream = upstream
        self._label = label
        self._capabilities: Capabilities | None = None
        self._replicas = ReplicaSet(
            [Replica(address, max_concurrency=upstream.max_concurrency, is_healthy=True)
             for address in upstream.replicas],
            upstream=upstream.name,
        )
        self._health_interval_s = health_interval_s
        self._probe_timeout_s = probe_timeout_s
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            headers=headers,
            trust_env=False,
        )
        self._streams = UpstreamHttp(headers=headers, connect_timeout_s=connect_timeout_s)
        self._is_stopped = False
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """One health round before serving, so an unreachable replica starts out of the rotation."""
        await self.check_health()
        self._watcher = asyncio.create_task(self._watch_health())

    @property
    def is_alive(self) -> bool:
        return not self._is_stopped

    @property
    def has_vision(self) -> bool:
        return False

    @property
    def pid(self) -> int | None:
        return None

    @property
    def log_lines(self) -> list[str]:
        return []

    async def capabilities(self) -> Capabilities:
        """An upstream's own server parses tool calls (vLLM's tool parsers, modelrunner's tool handling);
        a llama.cpp server's template is probed like a local model's."""
        if self._capabilities is None:
            if all(replica.kind == "llama.cpp" for replica in self._replicas.replicas):
                renders_tools = await template_probe.renders_tools(self.render_prompt)
                parallel = renders_tools and await template_probe.renders_parallel_calls(self.render_prompt)
            else:
                renders_tools = parallel = True
            self._capabilities = Capabilities(renders_tools=renders_tools, renders_parallel_calls=parallel)
        return self._capabilities

    def describe(self) -> dict[str, Any]:
        return {"replicas": self._replicas.describe()}

    async def is_healthy(self, timeout_s: float) -> bool:
        return self.is_alive  # replica health is ours to track; the scheduler must not reap the upstream

    def kill(self) -> None:
        """Nothing of ours runs a model: stop taking requests; `stop` closes the connections."""
        self._is_stopped = True

    async def stop(self) -> None:
        self._is_stopped = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self._streams.aclose()
        await self._client.aclose()

    def chat(self, request: ChatRequest) -> AsyncIterator[EngineChunk]:
        return self._generate("/chat/completions", lambda kind: self._chat_body(request, kind), request.sampling,
                              prefix_keys(request.messages, request.tools))

    def complete(self, request: CompletionRequest) -> AsyncIterator[EngineChunk]:
        body = completion_body(request, model=self._upstream.model)
        return self._generate("/completions", lambda kind: dict(body), request.sampling, [])

    async def chat_answer(self, request: ChatRequest) -> list[EngineChunk]:
        return [chunk async for chunk in self.chat(request)]  # streamed: a failure before the first chunk is retried

    async def completion_answer(self, request: CompletionRequest) -> list[EngineChunk]:
        return [chunk async for chunk in self.complete(request)]

    async def render_prompt(self, request: ChatRequest) -> str:
        replica = self._replica_of_kind("llama.cpp", "render prompts")
        body = self._chat_body(request, "llama.cpp")
        body.pop("stream", None)
        body.pop("stream_options", None)
        answer = await self._post(replica, server_root(replica.url) + "/apply-template", body)
        return str(answer["prompt"])

    async def count_tokens(self, text: str) -> int:
        replica = self._replica_of_kind("llama.cpp", "tokenize text")
        answer = await self._post(replica, server_root(replica.url) + "/tokenize",
                                  {"content": text, "add_special": True, "parse_special": True})
        return len(answer["tokens"])

    async def count_prompt_tokens(self, request: ChatRequest) -> int:
        """The prompt tokens of a conversation, counted by the upstream itself."""
        replica = self._usable_replica()
        root = server_root(replica.url)
        if replica.kind == "llama.cpp":
            return await self.count_tokens(await self.render_prompt(request))
        if replica.kind == "vllm":
            answer = await self._post(replica, root + "/tokenize", vllm_tokenize_body(request, self._upstream.model))
            return int(answer.get("count") or len(answer.get("tokens") or ()))
        if replica.kind == "modelrunner":
            answer = await self._post(replica, root + "/v1/messages/count_tokens",
                                      anthropic_count_body(request, self._upstream.model))
            return int(answer["input_tokens"])
        raise Unsupported(f"upstream {self._label} ({replica.url}) cannot count tokens: counting needs a "
                          "llama.cpp server, vLLM or another modelrunner, and it is none of them")

    async def embed(self, inputs: list[EmbeddingInput], *, truncate: bool, context_size: int) -> Embeddings:
        """Vectors from the upstream's OpenAI `/embeddings`, scaled to unit length as every API here
        promises. `truncate` is the upstream's to honour: an input too long for it is its 400."""
        replica = self._usable_replica()
        answer = await self._post(replica, replica.url + "/embeddings",
                                  {"model": self._upstream.model, "input": inputs, "encoding_format": "float"})
        rows = sorted(answer["data"], key=lambda row: row["index"])
        return Embeddings(vectors=[unit_length(row["embedding"]) for row in rows],
                          prompt_tokens=int((answer.get("usage") or {}).get("prompt_tokens") or 0))

    async def rank(self, query: str, documents: list[str], *, context_size: int) -> RankScores:
        """Scores from the upstream's `/rerank` (llama.cpp's server, vLLM and modelrunner serve one)."""
        replica = self._usable_replica()
        answer = await self._post(replica, replica.url + "/rerank", {
            "model": self._upstream.model, "query": query, "documents": documents, "top_n": len(documents)})
        scores = [0.0] * len(documents)
        for row in answer["results"]:
            scores[int(row["index"])] = float(row["relevance_score"])
        return RankScores(scores=scores, prompt_tokens=int((answer.get("usage") or {}).get("prompt_tokens") or 0))

    def _usable_replica(self) -> Replica:
        replica = self._replicas.any_healthy()
        if replica is None:
            raise self._replicas.none_usable(set())
        return replica

    async def check_health(self) -> None:
        await asyncio.gather(*(self._check(replica) for replica in self._replicas.replicas))

    def _replica_of_kind(self, kind: UpstreamKind, what: str) -> Replica:
        healthy = [replica for replica in self._replicas.healthy() if replica.kind == kind]
        if not healthy:
            raise Unsupported(f"upstream {self._label} cannot {what}: no healthy {kind} replica")
        return min(healthy, key=lambda replica: replica.in_flight)

    def _chat_body(self, request: ChatRequest, kind: UpstreamKind) -> dict[str, Any]:
        body = chat_body(request, model=self._upstream.model)
        if kind != "llama.cpp":
            for name in _LLAMA_CPP_ONLY_FIELDS:
                body.pop(name, None)
            if kind != "vllm":
                body.pop("chat_template_kwargs", None)
        if request.sampling.stop:
            if kind == "llama.cpp":
                body["timings_per_token"] = True  # exact usage when we cut the stream at a match
            elif kind == "vllm":  # vLLM stops there itself and keeps the text, so we still see the match
                body["stop"] = list(request.sampling.stop)
                body["include_stop_str_in_output"] = True
        return body

    async def _post(self, replica: Replica, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(url, content=orjson.dumps(body), headers=_JSON)
        except httpx.TransportError as exc:
            raise self._lost(replica, exc) from exc
        if response.status_code != 200:
            raise upstream_error(response.status_code, response.content, upstream=self._label,
                                 retry_after=response.headers.get("retry-after"))
        return orjson.loads(response.content)

    def _lost(self, replica: Replica, exc: httpx.TransportError | UpstreamTransportError) -> EngineFailed:
        """A transport failure takes the replica out of the rotation until a probe finds it again."""
        if (exc.is_unreachable if isinstance(exc, UpstreamTransportError)
                else isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))):
            reason = "unreachable"
        else:
            reason = "dropped the connection"
        replica.mark_down(reason)
        self._replicas.wake_waiters()
        logger.warning("upstream %s: replica %s %s (%s)", self._label, replica.url, reason, type(exc).__name__)
        return EngineFailed(f"upstream {self._label}: replica {replica.url} {reason}", retryable=True)

    def _has_untried(self, tried: set[Replica]) -> bool:
        return any(replica not in tried for replica in self._replicas.healthy())

    async def _generate(self, path: str, body_for: BodyForKind, sampling: Sampling,
                        keys: list[bytes]) -> AsyncIterator[EngineChunk]:
        tried: set[Replica] = set()
        while True:
            replica = await self._replicas.take(keys, tried=tried)
            tried.add(replica)
            started = time.monotonic()
            has_started = False
            try:
                async for chunk in self._stream_from(replica, path, body_for(replica.kind), sampling):
                    if not has_started:
                        has_started = True
                        replica.observe_first_token(time.monotonic() - started)
                    yield chunk
            except UpstreamTransportError as exc:
                error = self._lost(replica, exc)
                if has_started or not self._has_untried(tried):
                    raise error from exc
                continue
            except ModelRunnerError as exc:
                if has_started or not _is_retryable_elsewhere(exc) or not self._has_untried(tried):
                    raise
                logger.warning("upstream %s: retrying on another replica: %s", self._label, exc.message)
                continue
            finally:
                self._replicas.give_back(replica)
            replica.served += 1
            self._replicas.affinity.remember(keys, replica)
            return

    async def _stream_from(self, replica: Replica, path: str, body: dict[str, Any],
                           sampling: Sampling) -> AsyncIterator[EngineChunk]:
        matcher = StopSequenceMatcher(sampling.stop)
        is_llama_cpp = replica.kind == "llama.cpp"
        matched: str | None = None  # a stop sequence matched: read on, silently, for the exact usage
        finish: Finish | None = None
        usage: Usage | None = None
        timings: dict[str, Any] | None = None
        async with self._streams.stream(replica.url, path, orjson.dumps(body)) as response:
            if response.status_code != 200:
                raise upstream_error(response.status_code, await response.read(), upstream=self._label,
                                     retry_after=response.header("retry-after"))
            async for payloads in relay_batches(response.reads()):
                for payload in payloads:
                    if type(payload) is str:  # text-only events' text: no error, no new timings
                        continue
                    if "error" in payload:
                        raise upstream_error(500, orjson.dumps(payload), upstream=self._label)
                    if is_llama_cpp:
                        timings = payload.get("timings") or timings
                for chunk in decode_batch(payloads):
                    kind = type(chunk)
                    if kind is Usage:
                        usage = chunk
                    elif matched is not None:
                        continue
                    elif kind is TextDelta and matcher.is_active:
                        text, matched = matcher.feed(chunk.text)
                        if text:
                            yield TextDelta(text)
                        if matched is not None and is_llama_cpp:
                            early = usage_from_timings(timings)
                            if early is not None:
                                yield early
                            yield Finish("stop", stop_sequence=matched)
                            return
                    elif kind is Finish:
                        finish = chunk
                    else:
                        yield chunk
        if matched is not None:
            if usage is not None:
                yield usage
            yield Finish("stop", stop_sequence=matched)
            return
        held = matcher.flush()
        if held:
            yield TextDelta(held)
        if finish is None:
            raise EngineFailed(f"upstream {self._label}: replica {replica.url} ended the answer without finishing it",
                               retryable=True)
        usage = (usage_from_timings(timings) if is_llama_cpp else None) or usage
        if usage is not None:
            yield usage
            if finish.reason == "length" and (
                sampling.max_tokens is None or usage.completion_tokens < sampling.max_tokens
            ):
                finish = Finish("context_window")
        yield finish

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval_s)
            await self.check_health()

    async def _check(self, replica: Replica) -> None:
        try:
            response = await self._client.get(replica.url + "/models", timeout=self._probe_timeout_s)
            reason = None if response.status_code == 200 else f"GET /models answered HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            reason = f"unreachable ({type(exc).__name__})"
        if reason is None and not replica.is_healthy:
            if replica.kind == "unknown":
                replica.kind = await discover_kind(self._client, replica.url)
            replica.mark_up()
            logger.info("upstream %s: replica %s is back", self._label, replica.url)
            self._replicas.wake_waiters()
        elif reason is not None and (replica.is_healthy or replica.last_error is None):
            replica.mark_down(reason)
            self._replicas.wake_waiters()
            logger.warning("upstream %s: replica %s left the rotation: %s", self._label, replica.url, reason)
