"""A transparent reverse proxy that records what a client sends a server and what comes back, for
tests that drive a client we cannot instrument (Claude Code). Responses are relayed as they arrive,
so a streaming client sees each SSE event when the server sends it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from tests.support.http_threads import relay_server
from tests.support.server import free_port

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length",
               "accept-encoding"}


@dataclass
class Exchange:
    """One request and its response; `status` stays None until the response has been relayed."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    response: bytes = b""
    client_left: bool = False

    @property
    def response_json(self) -> Any:
        return json.loads(self.response)


@dataclass
class RecordingProxy:
    upstream: str
    port: int = field(default_factory=free_port)
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.upstream = self.upstream.rstrip("/")
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0))
        self._server = relay_server(self.port, self._relay)

    def requests_to(self, path: str) -> list[Exchange]:
        """The exchanges whose path (query string left out) is `path`, in the order they were sent."""
        with self._lock:
            return [exchange for exchange in self.exchanges if exchange.path.split("?")[0] == path]

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()

    def _relay(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw_body = handler.rfile.read(length) if length else b""
        headers = {key: value for key, value in handler.headers.items() if key.lower() not in HOP_HEADERS}
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = raw_body.decode(errors="replace")
        exchange = Exchange(handler.command, handler.path, headers, body)
        with self._lock:
            self.exchanges.append(exchange)
        request = self._client.build_request(handler.command, self.upstream + handler.path, headers=headers,
                                             content=raw_body)
        response = self._client.send(request, stream=True)
        chunks: list[bytes] = []
        try:
            handler.send_response(response.status_code)
            for key, value in response.headers.multi_items():
                if key.lower() not in HOP_HEADERS | {"content-encoding"}:
                    handler.send_header(key, value)
            has_body = handler.command != "HEAD" and response.status_code not in (204, 304)
            if has_body:
                handler.send_header("Transfer-Encoding", "chunked")
            else:
                handler.send_header("Content-Length", "0")
            handler.end_headers()
            if has_body:
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    handler.wfile.flush()
                handler.wfile.write(b"0\r\n\r\n")
                handler.wfile.flush()
        except OSError:
            exchange.client_left = True  # the client hung up; closing the upstream response tells the server
            handler.close_connection = True
        finally:
            response.close()
            exchange.response = b"".join(chunks)
            exchange.status = response.status_code

    def __enter__(self) -> RecordingProxy:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        self._client.close()
