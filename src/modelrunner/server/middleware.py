"""The one pure ASGI middleware every HTTP request passes: request id, the edge's checks (API key,
body size), metrics, cancelling a handler whose client left, and one access-log line.

Written against raw ASGI (not BaseHTTPMiddleware) and wrapping `send` once, so that streamed responses
pass through untouched and the log line is written when the last byte is sent, with the tokens the
handler recorded. Requests refused here answer in the envelope of the API their path belongs to.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelrunner.core.errors import AuthenticationFailed, ModelRunnerError, RequestTooLarge
from modelrunner.server.apis import ApiFallback, resolve_api
from modelrunner.server.disconnect import DisconnectWatch
from modelrunner.server.errors import error_response
from modelrunner.server.metrics import CLIENT_CLOSED_STATUS, STREAMING_TYPES, ServerMetrics

logger = logging.getLogger("modelrunner.access")

REQUEST_ID_HEADER = b"request-id"


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


class _Exchange:
    """What the edge learns of one request's answer as it passes through `send`."""

    __slots__ = ("status", "is_streaming", "first_event", "is_recorded", "is_complete")

    def __init__(self) -> None:
        self.status = 0
        self.is_streaming = False
        self.first_event: float | None = None
        self.is_recorded = False
        self.is_complete = False


class EdgeMiddleware:
    # Model archives are as large as the model; the import route streams them to disk.
    UNLIMITED_BODY_PATHS = frozenset({"/models/load"})

    def __init__(self, app: ASGIApp, *, api_prefixes: Sequence[ApiFallback], api_key: str | None,
                 max_body_bytes: int, metrics: ServerMetrics | None = None) -> None:
        self.app = app
        self.api_prefixes = api_prefixes
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        headers = dict(scope.get("headers") or [])
        exchange = _Exchange()
        watch = DisconnectWatch(self._limited(scope, receive))

        async def edge_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                watch.answer_started()
                exchange.status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode()),
                                      (b"x-request-id", request_id.encode())]
                content_type = dict(message["headers"]).get(b"content-type", b"")
                exchange.is_streaming = content_type.startswith(STREAMING_TYPES)
            elif message["type"] == "http.response.body":
                if exchange.is_streaming and exchange.first_event is None and message.get("body"):
                    exchange.first_event = time.perf_counter()
                if not message.get("more_body", False):
                    # Before the last byte leaves: a client that reads the answer then scrapes sees it.
                    self._record(scope, exchange, started)
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                exchange.is_complete = True
                self._log(scope, state, exchange.status, started)

        try:
            rejection = self._rejection(headers, scope["path"])
            if rejection is not None:
                await error_response(resolve_api(self.api_prefixes, scope), rejection, request_id)(
                    scope, receive, edge_send)
                return
            await watch.run(scope, lambda: self.app(scope, watch.receive, edge_send))
        except Exception:
            exchange.status = exchange.status or 500
            raise
        finally:
            if not exchange.is_recorded:
                exchange.status = exchange.status or CLIENT_CLOSED_STATUS
                self._record(scope, exchange, started)
            if not exchange.is_complete:  # the client left mid-answer (or the handler failed): log it too
                self._log(scope, state, exchange.status, started, outcome=" incomplete")

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        """`receive`, refusing a body that grows past the limit while it arrives."""
        if scope["path"] in self.UNLIMITED_BODY_PATHS:
            return receive
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise RequestTooLarge(self._too_large_message())
            return message

        return limited_receive

    def _rejection(self, headers: dict[bytes, bytes], path: str) -> ModelRunnerError | None:
        """Every check the edge makes before a handler runs, in one place."""
        if self.api_key is not None and not self._has_valid_key(headers):
            return AuthenticationFailed("invalid x-api-key")
        length = headers.get(b"content-length")
        if path in self.UNLIMITED_BODY_PATHS:
            return None
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return RequestTooLarge(self._too_large_message())
        return None

    def _too_large_message(self) -> str:
        return f"request body is larger than {self.max_body_bytes // (1024 * 1024)} MiB"

    def _has_valid_key(self, headers: dict[bytes, bytes]) -> bool:
        expected = self.api_key.encode() if self.api_key else b""
        if secrets.compare_digest(headers.get(b"x-api-key", b""), expected):
            return True
        authorization = headers.get(b"authorization", b"")
        return authorization.lower().startswith(b"bearer ") and secrets.compare_digest(authorization[7:].strip(), expected)

    def _record(self, scope: Scope, exchange: _Exchange, started: float) -> None:
        exchange.is_recorded = True
        if self.metrics is not None:
            self.metrics.record_request(scope, exchange.status, started, exchange.first_event)

    @staticmethod
    def _log(scope: Scope, state: dict[str, Any], status: int, started: float, *, outcome: str = "") -> None:
        requested, served = state.get("model", "-"), state.get("served_model")
        logger.info(
            "%s %s %d%s model=%s prompt_tokens=%s completion_tokens=%s %.1fms %s",
            scope["method"], scope["path"], status, outcome,
            requested if served in (None, requested) else f"{requested} served_by={served}",
            state.get("prompt_tokens", "-"), state.get("completion_tokens", "-"),
            (time.perf_counter() - started) * 1000, state["request_id"],
        )
