"""An exchange turned into the JSON record `/engines/requests` serves: decoded, redacted and bounded."""

from __future__ import annotations

import time
from typing import Any

import orjson

from modelrunner.core.chat import CompletionRequest, Usage
from modelrunner.recorder.answer import answer_blocks
from modelrunner.recorder.exchange import Exchange
from modelrunner.recorder.prompts import Prompt
from modelrunner.recorder.redaction import redact

MAX_TEXT_CHARS = 256 * 1024
"""A body, a prompt or the engine request longer than this (after redaction) keeps only its start."""
MAX_EVENTS = 2000


def _bounded_text(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[:MAX_TEXT_CHARS] + f"\n… ({len(text) - MAX_TEXT_CHARS} more characters cut by the recorder)"


def _bounded_json(value: Any) -> Any:
    """A value kept as JSON while it is small enough, else as the start of its JSON text."""
    encoded = orjson.dumps(value)
    if len(encoded) <= MAX_TEXT_CHARS:
        return value
    return _bounded_text(encoded.decode(errors="replace"))


def decoded_body(raw: bytes) -> Any:
    """The request body as redacted JSON, or as text when it is not JSON (a malformed request)."""
    if not raw:
        return None
    try:
        return _bounded_json(redact(orjson.loads(raw)))
    except orjson.JSONDecodeError:
        return _bounded_text(raw.decode(errors="replace"))


def engine_request(exchange: Exchange) -> Any:
    request = exchange.engine_request
    if request is None:
        return None
    fields = orjson.loads(orjson.dumps(request, default=str))  # several times cheaper than dataclasses.asdict
    fields["kind"] = "completion" if isinstance(request, CompletionRequest) else "chat"
    return _bounded_json(redact(fields))


def _raw_events(exchange: Exchange) -> list[str]:
    text = b"".join(exchange.response_parts).decode(errors="replace")
    separator = "\n\n" if exchange.response_media_type.startswith("text/event-stream") else "\n"
    events = [event for event in text.split(separator) if event.strip()]
    return events[:MAX_EVENTS]


def _whole_body(exchange: Exchange) -> Any:
    raw = b"".join(exchange.response_parts)
    try:
        return _bounded_json(orjson.loads(raw)) if raw else None
    except orjson.JSONDecodeError:
        return _bounded_text(raw.decode(errors="replace"))


def _error_message(body: Any) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            return str(inner.get("message") or inner.get("type") or inner)
        if isinstance(inner, str):
            return inner
    return None


def _usage(exchange: Exchange) -> Usage | None:
    for chunk in reversed(exchange.chunks):
        if type(chunk) is Usage:
            return chunk
    return None


def _timings(exchange: Exchange, usage: Usage | None) -> dict[str, Any]:
    end = exchange.finished_s or time.perf_counter()
    first = exchange.first_chunk_s
    generating_s = (exchange.last_chunk_s - first) if first is not None and exchange.last_chunk_s else None
    tokens_per_s = None
    if usage and usage.completion_tokens > 1 and generating_s:
        tokens_per_s = round((usage.completion_tokens - 1) / generating_s, 2)  # tokens after the first
    return {
        "duration_ms": round((end - exchange.started_s) * 1000, 2),
        "ttft_ms": None if first is None else round((first - exchange.started_s) * 1000, 2),
        "tokens_per_s": tokens_per_s,
    }


def prompt_fields(prompt: Prompt) -> dict[str, Any]:
    """`prompt_on_read`: the prompt is rendered when the record is read by id (`/engines/requests/{id}`)."""
    return {
        "rendered_prompt": None if prompt.text is None else _bounded_text(prompt.text),
        "prompt_error": prompt.error,
        "prompt_on_read": prompt.source is not None,
    }


def build_record(exchange: Exchange, prompt: Prompt) -> dict[str, Any]:
    is_stream = exchange.response_media_type.startswith(("text/event-stream", "application/x-ndjson"))
    body = None if is_stream else _whole_body(exchange)
    events = _raw_events(exchange) if is_stream else []
    usage = _usage(exchange)
    error = exchange.error or (_error_message(body) if exchange.status >= 400 else None)
    if error is None and is_stream:
        error = _stream_error(events)
    return {
        "id": exchange.id,
        "api": exchange.api,
        "method": exchange.method,
        "route": exchange.route,
        "model": exchange.requested_model,
        "served_model": exchange.served_model,
        "started_at": exchange.started_at,
        "status": exchange.status,
        "error": error,
        "stream": is_stream,
        "request": decoded_body(b"".join(exchange.body_parts)),
        "engine_request": engine_request(exchange),
        **prompt_fields(prompt),
        "response": {
            "message": answer_blocks(exchange.chunks) if exchange.chunks else None,
            "body": body,
            "events": events,
            "truncated": exchange.is_response_truncated or exchange.are_chunks_truncated,
        },
        "usage": None if usage is None else {
            "input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
            "cached_input_tokens": usage.cached_prompt_tokens,
        },
        "timings": _timings(exchange, usage),
    }


def _stream_error(events: list[str]) -> str | None:
    """The message of an error event sent after the 200 (Anthropic, OpenAI SSE or an Ollama line)."""
    for event in events:
        if '"error"' not in event:
            continue
        data = event.split("data:", 1)[1] if "data:" in event else event
        try:
            message = _error_message(orjson.loads(data))
        except orjson.JSONDecodeError:
            continue
        if message:
            return message
    return None
