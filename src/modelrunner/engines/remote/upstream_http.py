"""A lean HTTP/1.1 client for the relay's streams from upstreams: one request written in one send, and
the answer's body handed on one socket read at a time, however many HTTP chunks that read holds.

Two reasons for it on the relay's path. httpx spends about a millisecond of CPU per request on URL,
header and pool models, which is most of what a stream costs beyond its tokens. And it yields one piece
per HTTP chunk: the servers we front (vLLM and SGLang under uvicorn, llama.cpp's server) write each SSE
event as its own chunk, so a fast upstream's events came one per iteration, never batched. Other calls
to an upstream (health, probes, counting, embeddings) stay on httpx."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from modelrunner.engines.http1 import MAX_HEAD_BYTES, NO_ANSWER_ERRORS, ChunkedBody, Connection, content_length, exchange

_READ_BYTES = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


class UpstreamTransportError(Exception):
    """The upstream could not be reached (`is_unreachable`), or its connection broke before the answer
    was whole."""

    def __init__(self, message: str, *, is_unreachable: bool) -> None:
        super().__init__(message)
        self.is_unreachable = is_unreachable


class _Origin:
    """Where a base URL's requests go: the address to connect to and the bytes every request names."""

    __slots__ = ("key", "host", "port", "ssl", "host_header", "path")

    def __init__(self, url: str, tls: ssl.SSLContext | None) -> None:
        parts = urlsplit(url)
        is_https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if is_https else 80)
        self.ssl = tls if is_https else None
        self.host_header = parts.netloc.encode()
        self.path = parts.path
        self.key = (parts.scheme, self.host, self.port)


class UpstreamResponse:
    """One answer's status and headers; its body is read once, as it arrives (`reads`) or whole."""

    def __init__(self, connection: Connection, status: int, headers: dict[bytes, bytes]) -> None:
        self.status_code = status
        self.headers = headers
        self._connection = connection
        self._is_chunked = headers.get(b"transfer-encoding", b"").lower().endswith(b"chunked")
        self._length = None if self._is_chunked else content_length(headers)
        self.is_complete = status in _NO_BODY_STATUSES or self._length == 0
        self.keeps_alive = headers.get(b"connection", b"").lower() != b"close" and (
            self._is_chunked or self._length is not None)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.lower().encode())
        return None if value is None else value.decode("latin-1")

    async def reads(self) -> AsyncIterator[bytes]:
        """The body's bytes, one socket read at a time (chunked framing removed)."""
        if self.is_complete:
            return
        reader = self._connection.reader
        chunked = ChunkedBody() if self._is_chunked else None
        left = self._length
        data = b""
        try:
            while True:
                if not data:
                    data = await reader.read(_READ_BYTES)
                    if not data:
                        if left is None and chunked is None:
                            self.is_complete = True  # delimited by the end of the connection
                            return
                        raise UpstreamTransportError("the upstream closed the connection mid-answer",
                                                     is_unreachable=False)
                if chunked is not None:
                    body = chunked.feed(data)
                    self.is_complete = chunked.is_complete
                elif left is not None:
                    body = data[:left]
                    left -= len(body)
                    self.is_complete = left == 0
                else:
                    body = data
                data = b""
                if body:
                    yield body
                if self.is_complete:
                    return
        except (OSError, ValueError) as exc:
            raise UpstreamTransportError(f"the answer broke off: {exc!r}", is_unreachable=False) from exc

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.reads()])


def _default_tls() -> ssl.SSLContext:
    """What httpx verifies against by default: certifi's CA bundle (httpx depends on it)."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class UpstreamHttp:
    """Streamed POSTs to an upstream's replicas over kept-alive connections, `max_idle` per replica."""

    def __init__(self, *, headers: dict[str, str], connect_timeout_s: float, max_idle: int = 64,
                 tls: ssl.SSLContext | None = None) -> None:
        """`tls`: how https upstreams are verified (default: certifi's CA bundle, as httpx does)."""
        self._headers = b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers.items())
        self._connect_timeout_s = connect_timeout_s
        self._max_idle = max_idle
        self._origins: dict[str, _Origin] = {}
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._tls = tls
        self._is_closed = False

    def _origin(self, base_url: str) -> _Origin:
        origin = self._origins.get(base_url)
        if origin is None:
            if base_url.startswith("https:") and self._tls is None:
                self._tls = _default_tls()
            origin = self._origins[base_url] = _Origin(base_url, self._tls)
        return origin

    async def _connect(self, origin: _Origin) -> Connection:
        idle = self._idle.get(origin.key)
        while idle:
            connection = idle.pop()
            if connection.is_usable:
                connection.is_reused = True
                return connection
            connection.close()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                reader, writer = await asyncio.open_connection(
                    origin.host, origin.port, ssl=origin.ssl, limit=MAX_HEAD_BYTES,
                    server_hostname=origin.host if origin.ssl is not None else None)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise UpstreamTransportError(f"cannot connect: {exc!r}", is_unreachable=True) from exc
        return Connection(reader, writer)

    def _release(self, origin: _Origin, connection: Connection, response: UpstreamResponse) -> None:
        idle = self._idle.setdefault(origin.key, [])
        if (response.is_complete and response.keeps_alive and not self._is_closed and len(idle) < self._max_idle
                and connection.is_usable):
            idle.append(connection)
        else:
            connection.close()

    @contextlib.asynccontextmanager
    async def stream(self, base_url: str, path: str, body: bytes) -> AsyncIterator[UpstreamResponse]:
        """POST `body` (JSON) to `base_url + path`; the answer's body is read by the caller. Leaving before
        the body is whole closes the connection, which is how the upstream learns to stop generating."""
        origin = self._origin(base_url)
        request = (b"POST " + (origin.path + path).encode() + b" HTTP/1.1\r\nhost: " + origin.host_header
                   + b"\r\naccept: */*\r\nuser-agent: modelrunner\r\ncontent-type: application/json\r\n"
                   + self._headers + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            connection, status, headers = await exchange(lambda: self._connect(origin), request)
        except NO_ANSWER_ERRORS as exc:
            raise UpstreamTransportError(f"no answer: {exc!r}", is_unreachable=False) from exc
        try:
            response = UpstreamResponse(connection, status, headers)
        except ValueError as exc:  # a length that is not one
            connection.close()
            raise UpstreamTransportError(f"no answer: {exc!r}", is_unreachable=False) from exc
        try:
            yield response
        finally:
            self._release(origin, connection, response)

    async def aclose(self) -> None:
        self._is_closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
