"""HTTP/1.1 pieces both lean engine clients share (the llama.cpp worker link, `llamacpp/worker_http.py`,
and the relay to upstreams, `remote/upstream_http.py`): a kept-alive connection, a request's answer head,
and chunked framing taken off whatever bytes a socket read brought."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

MAX_HEAD_BYTES = 64 * 1024
"""The longest answer head (and chunk-size or trailer line) either client reads."""
NO_ANSWER_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError)
"""What a request that got no (readable) answer head raises."""


class Connection:
    """One connection to a server, to be reused while the server keeps it open."""

    __slots__ = ("reader", "writer", "is_reused")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.is_reused = False

    @property
    def is_usable(self) -> bool:
        """False once the server closed it (its keep-alive ran out): the loop has seen the EOF."""
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class ChunkedBody:
    """HTTP/1.1 chunked framing taken off whatever bytes have arrived, across reads."""

    __slots__ = ("_buffer", "_remaining", "_needs_crlf", "_in_trailer", "is_complete")

    def __init__(self) -> None:
        self._buffer = b""
        self._remaining = 0  # bytes of the current chunk's data still to come
        self._needs_crlf = False  # the CRLF after a chunk's data
        self._in_trailer = False
        self.is_complete = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes in `data` (and what earlier reads left unframed)."""
        buffer = self._buffer + data if self._buffer else data
        out: list[bytes] = []
        at = 0
        while not self.is_complete:
            if self._remaining:
                piece = buffer[at:at + self._remaining]
                out.append(piece)
                at += len(piece)
                self._remaining -= len(piece)
                if self._remaining:
                    break
                self._needs_crlf = True
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                if len(buffer) - at > MAX_HEAD_BYTES:
                    raise ValueError("a chunk size or trailer line too long")
                break
            line = buffer[at:line_end]
            at = line_end + 2
            if self._needs_crlf:
                if line:
                    raise ValueError("no CRLF after a chunk's data")
                self._needs_crlf = False
            elif self._in_trailer:
                self.is_complete = not line
            else:
                size = int(line.split(b";", 1)[0], 16)
                if size < 0:
                    raise ValueError("a negative chunk size")
                self._remaining = size
                self._in_trailer = size == 0
        self._buffer = buffer[at:]
        return out[0] if len(out) == 1 else b"".join(out)


async def send_request(connection: Connection, request: bytes) -> tuple[int, dict[bytes, bytes]]:
    """Write a whole request, then read its answer's status and headers (lower-cased names); 1xx answers
    (100 Continue, 103 Early Hints) that come before the real one are skipped. No `drain`: the request
    is already whole in memory, and waiting for the answer waits for it to be sent; a connection lost
    meanwhile ends that wait as drain would have (an error among NO_ANSWER_ERRORS)."""
    connection.writer.write(request)
    while True:
        head = await connection.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        if not 100 <= status < 200:
            break
    headers: dict[bytes, bytes] = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def content_length(headers: dict[bytes, bytes]) -> int | None:
    value = headers.get(b"content-length")
    if value is None:
        return None
    length = int(value)
    if length < 0:
        raise ValueError("a negative content-length")
    return length


async def exchange(connect: Callable[[], Awaitable[Connection]],
                   request: bytes) -> tuple[Connection, int, dict[bytes, bytes]]:
    """Send `request` on a connection from `connect` and read its answer's head. A kept-alive connection
    the server closed just as it was reused never took the request, so it goes again on a new one; a new
    connection's failure is real and raised as it came (one of NO_ANSWER_ERRORS)."""
    while True:
        connection = await connect()
        try:
            return (connection, *await send_request(connection, request))
        except NO_ANSWER_ERRORS:
            connection.close()
            if not connection.is_reused:
                raise
        except BaseException:
            connection.close()
            raise
