"""Pure ASGI middleware for every request: request id, API key, body-size limit, and one log line.

Written against raw ASGI (not BaseHTTPMiddleware) so that streamed responses pass through untouched
and the log line is written when the last byte is sent, with the tokens the handler recorded.
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
from modelrunner.server.errors import error_response

logger = logging.getLogger("modelrunner.access")

REQUEST_ID_HEADER = b"request-id"


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


class EdgeMiddleware:
    # Model archives are as large as the model; the import route streams them to disk.
    UNLIMITED_BODY_PATHS = frozenset({"/models/load"})

    def __init__(self, app: ASGIApp, *, api_prefixes: Sequence[ApiFallback], api_key: str | None,
                 max_body_bytes: int) -> None:
        self.app = app
        self.api_prefixes = api_prefixes
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status, is_complete = 0, False
        headers = dict(scope.get("headers") or [])

        async def send_with_id(message: Message) -> None:
            nonlocal status, is_complete
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode()),
                                      (b"x-request-id", request_id.encode())]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                is_complete = True
                self._log(scope, state, status, started)

        try:
            await self._serve(scope, receive, send_with_id, headers, request_id)
        finally:
            if not is_complete:  # the client left mid-answer (or the handler failed): log it too
                self._log(scope, state, status, started, outcome=" incomplete")

    async def _serve(self, scope: Scope, receive: Receive, send_with_id: Send, headers: dict[bytes, bytes],
                     request_id: str) -> None:
        rejection = self._rejection(headers, scope["path"])
        if rejection is not None:
            await error_response(resolve_api(self.api_prefixes, scope), rejection, request_id)(scope, receive, send_with_id)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes and scope["path"] not in self.UNLIMITED_BODY_PATHS:
                    raise RequestTooLarge(self._too_large_message())
            return message

        await self.app(scope, limited_receive, send_with_id)

    def _rejection(self, headers: dict[bytes, bytes], path: str) -> ModelRunnerError | None:
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
