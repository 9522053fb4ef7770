"""A lean HTTP/1.1 client for the link to one llama.cpp worker: a request written in one send, answers
read as raw bytes (chunked or sized), nothing decoded, connections kept alive where the worker keeps
them. The worker listens on a Unix socket (`unix:///path`) or on a loopback port (`http://host:port`).

httpx spends about a millisecond of CPU per request on framing, URL and header models and pool
bookkeeping that a link to one known server on 127.0.0.1 does not need; on an agent's many small
requests that was most of what the server added. Only the generation path uses this client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from modelrunner.engines.http1 import MAX_HEAD_BYTES, NO_ANSWER_ERRORS, ChunkedBody, Connection, content_length, exchange

CONNECT_TIMEOUT_S = 10.0
MAX_IDLE_CONNECTIONS = 4
"""llama.cpp's HTTP server gives each open connection one of its threads (the worker starts slots + 4)
until the connection closes or idles out (5 s): keeping at most `slots` idle leaves threads for new
connections, so that a burst of requests never waits for a kept-alive connection to time out."""
_READ_BYTES = 256 * 1024


class WorkerConnectionError(Exception):
    """The connection to the worker could not be made, or broke before the answer was whole."""


class WorkerResponse:
    """One answer; its body is read once, as it arrives (`chunks`) or whole (`read`)."""

    def __init__(self, connection: Connection, status: int, headers: dict[bytes, bytes]) -> None:
        self.status_code = status
        self.headers = headers
        self._connection = connection
        self.is_complete = False
        # llama.cpp's server closes a connection once it has streamed an answer on it (whatever its
        # Keep-Alive header says): only whole answers (tokenize, apply-template) leave one to reuse.
        self.keeps_alive = (headers.get(b"connection", b"").lower() != b"close"
                            and not headers.get(b"content-type", b"").startswith(b"text/event-stream"))

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: each item is all of it that came in one socket read (several of the
        engine's chunks at once when they arrived together), framing removed."""
        reader = self._connection.reader
        try:
            if self.headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                framing = ChunkedBody()
                while not framing.is_complete:
                    data = await reader.read(_READ_BYTES)
                    if not data:
                        raise asyncio.IncompleteReadError(b"", None)
                    if payload := framing.feed(data):
                        yield payload
            elif (length := content_length(self.headers)) is not None:
                if length:
                    yield await self._read_exactly(length)
            else:  # delimited by the end of the connection, which cannot be reused
                self.keeps_alive = False
                while data := await reader.read(_READ_BYTES):
                    yield data
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise WorkerConnectionError(f"the answer broke off: {exc!r}") from exc
        self.is_complete = True

    async def read(self) -> bytes:
        if self.headers.get(b"transfer-encoding") is None and (length := self._sized()) is not None:
            body = await self._read_exactly(length) if length else b""
            self.is_complete = True
            return body
        return b"".join([chunk async for chunk in self.chunks()])

    def _sized(self) -> int | None:
        try:
            return content_length(self.headers)
        except ValueError as exc:
            raise WorkerConnectionError(f"the answer broke off: {exc!r}") from exc

    async def _read_exactly(self, length: int) -> bytes:
        try:
            return await self._connection.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise WorkerConnectionError(f"the answer broke off: {exc!r}") from exc


class WorkerHttp:
    """Requests to one worker's base URL over a small pool of kept-alive connections."""

    def __init__(self, base_url: str, *, max_idle: int = MAX_IDLE_CONNECTIONS) -> None:
        parts = urlsplit(base_url)
        self._socket_path = parts.path if parts.scheme == "unix" else None
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._host_header = b"localhost" if self._socket_path is not None else parts.netloc.encode()
        self._max_idle = max_idle
        self._idle: list[Connection] = []
        self._is_closed = False

    @property
    def idle_connections(self) -> int:
        """Connections kept open for the next request."""
        return len(self._idle)

    async def _connect(self) -> Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_usable:
                connection.is_reused = True
                return connection
            connection.close()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                if self._socket_path is not None:
                    reader, writer = await asyncio.open_unix_connection(self._socket_path, limit=MAX_HEAD_BYTES)
                else:
                    reader, writer = await asyncio.open_connection(self._host, self._port, limit=MAX_HEAD_BYTES)
        except (OSError, TimeoutError) as exc:
            raise WorkerConnectionError(f"cannot connect to the worker: {exc!r}") from exc
        return Connection(reader, writer)

    def _release(self, connection: Connection, response: WorkerResponse | None) -> None:
        if (response is not None and response.is_complete and response.keeps_alive and not self._is_closed
                and len(self._idle) < self._max_idle and connection.is_usable):
            self._idle.append(connection)
        else:
            connection.close()

    def _head(self, method: str, path: str, body: bytes) -> bytes:
        return (f"{method} {path} HTTP/1.1\r\n".encode() + b"host: " + self._host_header +
                b"\r\ncontent-type: application/json\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n")

    async def _open(self, method: str, path: str, body: bytes) -> tuple[Connection, WorkerResponse]:
        try:
            connection, status, headers = await exchange(self._connect, self._head(method, path, body) + body)
        except NO_ANSWER_ERRORS as exc:
            raise WorkerConnectionError(f"the worker did not answer: {exc!r}") from exc
        return connection, WorkerResponse(connection, status, headers)

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, body: bytes = b"") -> AsyncIterator[WorkerResponse]:
        """The answer, its body read by the caller; leaving early closes the connection, which is how
        the worker learns to stop generating."""
        connection, response = await self._open(method, path, body)
        try:
            yield response
        finally:
            self._release(connection, response)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """The whole answer: its status and body."""
        connection, response = await self._open(method, path, body)
        try:
            return response.status_code, await response.read()
        finally:
            self._release(connection, response)

    async def aclose(self) -> None:
        self._is_closed = True
        while self._idle:
            self._idle.pop().close()
