"""The OpenAI chat-completions wire format as engines speak it (llama.cpp's server, vLLM, any
OpenAI-compatible server): building a request body from a ChatRequest and decoding stream chunks.
`grammar` and `thinking_budget_tokens` are llama.cpp's own fields; other servers ignore them.
Pure functions; the hot path works on dicts and slotted chunks only."""

from __future__ import annotations

from typing import Any

import orjson

from modelrunner.core.chat import (
    ChatRequest,
    CompletionRequest,
    EngineChunk,
    Finish,
    FinishReason,
    ReasoningDelta,
    Sampling,
    TextDelta,
    ToolCallDelta,
    ToolCallConstraint,
    Usage,
)

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def _sampling_fields(sampling: Sampling) -> dict[str, Any]:
    fields = {
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "min_p": sampling.min_p,
        "seed": sampling.seed,
        "presence_penalty": sampling.presence_penalty,
        "frequency_penalty": sampling.frequency_penalty,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _streaming_body(sampling: Sampling, model: str | None, **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {**payload, "stream": True, "stream_options": {"include_usage": True},
                            **_sampling_fields(sampling)}
    if model is not None:
        body["model"] = model
    return body


# llguidance's own JSON options: compact separators, so that a weak model cannot spend its tokens
# on whitespace inside a call, and lenient, so that a schema keyword llguidance does not implement
# is skipped instead of failing the whole grammar (llama.cpp then logs "llg error" and samples with
# no constraint at all).
_JSON_OPTIONS = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", ", "lenient": True}


def _inline_json(schema: dict[str, Any]) -> str:
    return "%json " + orjson.dumps({**schema, "x-guidance": _JSON_OPTIONS}).decode()


def _answer_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if response_format is None:
        return None
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or {}
    if response_format.get("type") == "json_object":
        return response_format.get("schema") or {"type": "object"}
    return None


def tool_call_grammar(constraint: ToolCallConstraint, answer_schema: dict[str, Any] | None = None) -> str:
    """An llguidance (Lark) grammar: text stays free, and from a call's opening marker on the call
    must be valid (the `lazy` head ends at the first `open`). It is eager and encodes the laziness
    itself: /v1/chat/completions overwrites `grammar_lazy` and `grammar_triggers` with the template's
    values, and llguidance grammars ignore both (common/sampling.cpp, common_sampler_init); xllamacpp
    is always built with LLAMA_LLGUIDANCE. While it binds, no special token but the end of generation
    gets through (think tags that are special tokens, say). With `answer_schema` (structured output)
    the answer is that JSON or calls, with no text before them."""
    opener = orjson.dumps(constraint.open).decode()
    closer = orjson.dumps(constraint.close).decode()
    if constraint.max_calls is None:
        more = " more*"
    elif constraint.max_calls > 1:
        more = f" more{{0,{constraint.max_calls - 1}}}"
    else:
        more = ""
    if constraint.opened:
        rules = [f"start: call{more}"]
    elif answer_schema is not None:
        rules = [f"start: answer | {opener} call{more}", f"answer: {_inline_json(answer_schema)}"]
    else:
        rules = [f"start: TEXT | head call{more}", f"head[lazy]: TEXT {opener}", "TEXT: /(?s:.*)/"]
    rules.append(f'call: "\\n"? {_inline_json(constraint.call_schema)} "\\n"? {closer}')
    if more:
        rules.append(f'more: "\\n"? {opener} call')
    return "\n".join(["%llguidance {}", *rules]) + "\n"


def _reasoning_fields(request: ChatRequest) -> dict[str, Any]:
    """Both are per request in llama.cpp (tools/server/server-common.cpp, oaicompat_chat_params_parse):
    `chat_template_kwargs.enable_thinking` switches the template's thinking; `thinking_budget_tokens`
    limits the reasoning-budget sampler, over the model's configured budget, where the template has
    thinking tags (past it the end tag is forced). A body `reasoning_budget` is not read at all. No
    zero budget: the pinned build then forces a garbled end tag; off is `enable_thinking: false`."""
    budget = request.reasoning_budget_tokens
    if request.reasoning is False:
        # A budget beside it is for templates that open thinking whatever the flag (DeepSeek-R1 distills).
        off: dict[str, Any] = {"chat_template_kwargs": {"enable_thinking": False}}
        return {**off, "thinking_budget_tokens": budget} if budget is not None and budget > 0 else off
    if request.reasoning and budget is not None and budget > 0:
        return {"thinking_budget_tokens": budget}
    return {}


def chat_body(request: ChatRequest, *, model: str | None = None) -> dict[str, Any]:
    """The streaming request body for an engine. Stop sequences are left out on purpose: the caller
    matches them itself so that it knows which one matched."""
    body = _streaming_body(request.sampling, model, messages=request.messages)
    if request.tools:
        body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.tool_call_constraint is not None:
        # llama.cpp refuses a grammar beside response_format, so the answer format joins the grammar.
        body["grammar"] = tool_call_grammar(request.tool_call_constraint, _answer_schema(request.response_format))
    elif request.response_format is not None:
        body["response_format"] = request.response_format
    body.update(_reasoning_fields(request))
    return body


def completion_body(request: CompletionRequest, *, model: str | None = None) -> dict[str, Any]:
    return _streaming_body(request.sampling, model, prompt=request.prompt)


def decode_chunk(payload: dict[str, Any]) -> list[EngineChunk]:
    """One decoded SSE `data:` object, or a whole (non-streamed) answer, whose `message` carries what
    deltas would -> the chunks it carries, in order (Usage before Finish is the caller's job: engines
    send usage after the finishing choice)."""
    chunks: list[EngineChunk] = []
    for choice in payload.get("choices") or ():
        delta = choice.get("delta")
        if delta is None:
            delta = choice.get("message")
        if delta is None:
            text = choice.get("text")
            if text:
                chunks.append(TextDelta(text))
        else:
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                chunks.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                chunks.append(TextDelta(content))
            for position, call in enumerate(delta.get("tool_calls") or ()):
                function = call.get("function") or {}
                chunks.append(ToolCallDelta(
                    index=int(call.get("index", position)),
                    id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                ))
        finish = choice.get("finish_reason")
        if finish:
            chunks.append(Finish(_FINISH_REASONS.get(finish, "stop")))
    usage = payload.get("usage")
    if usage:
        details = usage.get("prompt_tokens_details") or {}
        chunks.append(Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_prompt_tokens=int(details.get("cached_tokens") or 0),
        ))
    return chunks


def usage_from_timings(timings: dict[str, Any] | None) -> Usage | None:
    """llama.cpp's per-request timings as usage: its prompt-cache hits (`cache_n`) are exact there, and
    they arrive with every token when asked (`timings_per_token`), so a stream cut short still has them."""
    if not timings:
        return None
    cached = int(timings.get("cache_n") or 0)
    return Usage(prompt_tokens=int(timings.get("prompt_n") or 0) + cached,
                 completion_tokens=int(timings.get("predicted_n") or 0), cached_prompt_tokens=cached)
