"""The one seam between the request path and the request recorder.

The edge (`RecordingMiddleware`) opens an `Exchange` for each generation request, keeps references to the
body and response bytes, and puts the exchange on the request state; the shared generation helpers note on
it the engine request and the answer's chunks (`generation_observer`). Nothing here may fail a
request: the recorder only ever appends references, and does the rest after the response."""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelrunner.generation.context import UNOBSERVED, Observer
from modelrunner.recorder.exchange import Exchange
from modelrunner.recorder.recorder import RequestRecorder

logger = logging.getLogger(__name__)

RECORDED_PATH_ENDINGS = (
    ("/messages", "anthropic"),
    ("/chat/completions", "openai"),
    ("/completions", "openai"),
    ("/responses", "openai"),
    ("/embeddings", "openai"),
    ("/rerank", "openai"),
    ("/score", "openai"),
)
RECORDED_PATHS = {"/api/chat": "ollama", "/api/generate": "ollama", "/api/embed": "ollama",
                  "/api/embeddings": "ollama"}


def recorded_api(method: str, path: str) -> str | None:
    """The API of a generation route worth recording, or None for everything else."""
    if method != "POST":
        return None
    if path in RECORDED_PATHS:
        return RECORDED_PATHS[path]
    return next((api for ending, api in RECORDED_PATH_ENDINGS if path.endswith(ending)), None)


class RecordingMiddleware:
    """Opens an exchange per generation request and hands it to the recorder when the response is over."""

    def __init__(self, app: ASGIApp, *, recorder: RequestRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = recorded_api(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        exchange = self.recorder.begin(request_id=state.get("request_id") or "-", api=api,
                                       method=scope["method"], route=scope["path"])
        state["exchange"] = exchange
        is_complete = False

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.body_parts.append(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            nonlocal is_complete
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_media_type = _content_type(message.get("headers") or ())
            elif message["type"] == "http.response.body":
                exchange.note_response_body(message.get("body", b""))
                is_complete = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        except BaseException as exc:
            exchange.error = exchange.error or f"{type(exc).__name__} while the request was served"
            raise
        finally:
            if exchange.error is None and not is_complete:
                exchange.error = ("the client left before the answer started" if exchange.status == 0
                                  else "the answer was cut short: the client left")
            exchange.requested_model = state.get("model")
            exchange.served_model = state.get("served_model")
            self.recorder.finish(exchange)


def _content_type(headers: Any) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1")
    return ""


def exchange_of(state: Any) -> Exchange | None:
    return getattr(state, "exchange", None)


def generation_observer(state: Any) -> Observer:
    """The hooks a generation calls for this request: the recorder notes the engine request and every
    chunk when it records this request (and nothing happens otherwise)."""
    exchange = exchange_of(state)
    if exchange is None:
        return UNOBSERVED
    return Observer(chunk=exchange.note_chunk, engine_request=exchange.note_engine_request)
