"""The one pure ASGI middleware every HTTP request passes: request id, the trust boundary (Host,
Origin, CORS), the edge's checks (API key, body size), metrics, cancelling a handler whose client left,
turning an unexpected fault into a 500 in the API's envelope, and one access-log line.

Written against raw ASGI (not BaseHTTPMiddleware) and wrapping `send` once, so that streamed responses
pass through untouched and the log line is written when the last byte is sent, with the tokens the
handler recorded. Requests refused here answer in the envelope of the API their path belongs to.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelrunner.core.errors import AuthenticationFailed, EngineFailed, ModelRunnerError, RequestTooLarge
from modelrunner.server.apis import SCOPE_KEY, Api, ApiFallback, resolve_api
from modelrunner.server.disconnect import DisconnectWatch
from modelrunner.server.errors import error_response
from modelrunner.server.metrics import CLIENT_CLOSED_STATUS, STREAMING_TYPES, ServerMetrics
from modelrunner.server.trust import TrustBoundary, is_cross_site

logger = logging.getLogger("modelrunner.access")

REQUEST_ID_HEADER = b"request-id"


class RequestIds:
    """`req_` and 24 hex digits, as Anthropic's look. Drawn from a generator seeded once from the system's
    randomness: reading that for every request was a system call per request, and an id is no secret."""

    def __init__(self) -> None:
        self._random = random.Random(secrets.randbits(128))

    def new(self) -> str:
        return f"req_{self._random.getrandbits(96):024x}"


class _Exchange:
    """What the edge learns of one request's answer as it passes through `send`."""

    __slots__ = ("status", "is_started", "is_streaming", "first_event", "is_recorded", "is_complete")

    def __init__(self) -> None:
        self.status = 0
        self.is_started = False
        self.is_streaming = False
        self.first_event: float | None = None
        self.is_recorded = False
        self.is_complete = False


class EdgeMiddleware:
    # Model archives and blobs are as large as the model; their routes stream them to disk. Message Batches
    # bound their own bodies (256 MB, as Anthropic does).
    UNLIMITED_BODY_PATHS = frozenset({"/models/load", "/v1/messages/batches", "/anthropic/v1/messages/batches"})
    UNLIMITED_BODY_PREFIXES = ("/models/blobs/",)
    # The inspector's own files hold no data; the page asks for the key and sends it with its calls.
    KEYLESS_PATH_PREFIXES = ("/ui",)

    def __init__(self, app: ASGIApp, *, api_prefixes: Sequence[ApiFallback], api_key: str | None,
                 max_body_bytes: int, metrics: ServerMetrics | None = None,
                 trust: TrustBoundary | None = None) -> None:
        self.app = app
        self.api_prefixes = api_prefixes
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.trust = trust
        self.request_ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self.request_ids.new()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        headers = dict(scope.get("headers") or [])
        state["cross_site"] = is_cross_site(headers)
        cors = self.trust.cors_headers(headers) if self.trust is not None else []
        exchange = _Exchange()
        watch = DisconnectWatch(self._limited(scope, receive))

        async def edge_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                watch.answer_started()
                exchange.status, exchange.is_started = message["status"], True
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode()),
                                      (b"x-request-id", request_id.encode()), *cors]
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
            rejection = self._rejection(scope["method"], scope["path"], headers)
            if rejection is not None:
                await error_response(self._api(scope), rejection, request_id)(scope, receive, edge_send)
                return
            if self.trust is not None and self.trust.is_preflight(scope["method"], headers):
                await edge_send({"type": "http.response.start", "status": 204,
                                 "headers": self.trust.preflight_headers(headers)})
                await edge_send({"type": "http.response.body", "body": b""})
                return
            await watch.run(scope, lambda: self.app(scope, watch.receive, edge_send))
        except Exception as exc:  # noqa: BLE001 - the one place an unexpected fault becomes an answer
            # Re-raising would make the ASGI server close the keep-alive connection and answer without
            # a request id: log it once here and answer a 500 in the route's envelope instead.
            logger.error("unexpected error on %s %s (%s)", scope["method"], scope["path"], request_id,
                         exc_info=exc)
            if not exchange.is_started:
                internal = EngineFailed("internal error: " + type(exc).__name__)
                await error_response(self._api(scope), internal, request_id)(scope, receive, edge_send)
            exchange.status = exchange.status or 500
        finally:
            if not exchange.is_recorded:
                exchange.status = exchange.status or CLIENT_CLOSED_STATUS
                self._record(scope, exchange, started)
            if not exchange.is_complete:  # the client left mid-answer (or the handler failed): log it too
                self._log(scope, state, exchange.status, started, outcome=" incomplete")

    def _api(self, scope: Scope) -> Api:
        """The API whose envelope answers: the route's stamp once routed, else the path's prefix."""
        return scope.get(SCOPE_KEY) or resolve_api(self.api_prefixes, scope)

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        """`receive`, refusing a body that grows past the limit while it arrives."""
        if self._is_unlimited(scope["path"]):
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

    def _rejection(self, method: str, path: str, headers: dict[bytes, bytes]) -> ModelRunnerError | None:
        """Every check the edge makes before a handler runs, in one place: the trust boundary first (a
        CORS preflight it lets through needs no key), then the API key and the body size."""
        if self.trust is not None:
            refusal = self.trust.refusal(method, path, headers)
            if refusal is not None or self.trust.is_preflight(method, headers):
                return refusal
        if self.api_key is not None and not path.startswith(self.KEYLESS_PATH_PREFIXES) \
                and not self._has_valid_key(headers):
            return AuthenticationFailed("invalid x-api-key")
        length = headers.get(b"content-length")
        if self._is_unlimited(path):
            return None
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return RequestTooLarge(self._too_large_message())
        return None

    def _is_unlimited(self, path: str) -> bool:
        return path in self.UNLIMITED_BODY_PATHS or path.startswith(self.UNLIMITED_BODY_PREFIXES)

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
