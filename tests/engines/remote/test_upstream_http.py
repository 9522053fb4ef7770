"""The relay's HTTP/1.1 client: kept-alive connections, and the two
ways a transport fails (unreachable, broken mid-answer). The servers here are plain asyncio sockets
written in the test, so the wire can be shaped exactly; real upstreams are in the other remote tests."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from modelrunner.engines.remote.upstream_http import UpstreamHttp, UpstreamTransportError
from tests.support.certificates import make_self_signed
from tests.support.http_wire import chunked_wire
from tests.support.server import free_port


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, str, list[int]]:
    """A server on a free port; the list counts its connections."""
    accepted: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    port = free_port()
    server = await asyncio.start_server(counted, "127.0.0.1", port)
    return server, f"http://127.0.0.1:{port}/v1", accepted


async def _request_of(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    return head, await reader.readexactly(length)


def test_a_kept_alive_connection_serves_the_next_request_and_the_headers_go_with_each() -> None:
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head, body = await _request_of(reader)
            except asyncio.IncompleteReadError:
                return
            seen.append(head)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked_wire([b"got ", body], True, False))
            await writer.drain()

    async def run() -> list[bytes]:
        server, url, accepted = await _serve(answer)
        client = UpstreamHttp(headers={"authorization": "Bearer k"}, connect_timeout_s=5)
        bodies = []
        for n in range(3):
            async with client.stream(url, "/chat/completions", b'{"n":%d}' % n) as response:
                assert response.status_code == 200
                bodies.append(await response.read())
        await client.aclose()
        server.close()
        assert len(accepted) == 1
        return bodies

    assert asyncio.run(run()) == [b'got {"n":0}', b'got {"n":1}', b'got {"n":2}']
    assert all(head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n") and b"authorization: Bearer k\r\n" in head
               for head in seen)


def test_a_connection_the_upstream_closed_while_idle_is_replaced_without_an_error() -> None:
    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_of(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()  # then the handler ends and closes the connection, as an idle timeout would

    async def run() -> tuple[list[bytes], int]:
        server, url, accepted = await _serve(answer_once)
        client = UpstreamHttp(headers={}, connect_timeout_s=5)
        bodies = []
        for _ in range(2):
            async with client.stream(url, "/x", b"{}") as response:
                bodies.append(await response.read())
        await client.aclose()
        server.close()
        return bodies, len(accepted)

    assert asyncio.run(run()) == ([b"ok", b"ok"], 2)


def test_an_upstream_that_is_not_there_is_unreachable_and_one_that_breaks_off_is_not() -> None:
    async def half_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_of(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()

    async def run() -> tuple[UpstreamTransportError, UpstreamTransportError]:
        client = UpstreamHttp(headers={}, connect_timeout_s=5)
        with pytest.raises(UpstreamTransportError) as unreachable:
            async with client.stream(f"http://127.0.0.1:{free_port()}/v1", "/x", b"{}"):
                pass
        server, url, _ = await _serve(half_answer)
        with pytest.raises(UpstreamTransportError) as broken:
            async with client.stream(url, "/x", b"{}") as response:
                await response.read()
        await client.aclose()
        server.close()
        return unreachable.value, broken.value

    unreachable, broken = asyncio.run(run())
    assert unreachable.is_unreachable and not broken.is_unreachable


def test_an_https_upstream_is_verified_and_streams(tmp_path: Path) -> None:
    """Over TLS: a certificate the client trusts answers; with the default trust (certifi's bundle) the
    same self-signed server is unreachable, as with httpx."""
    certificate = make_self_signed(tmp_path)
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(certificate.certificate, certificate.key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            await _request_of(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked_wire([b"data: ", b"{}"], False, False))
            await writer.drain()

    async def run() -> tuple[bytes, UpstreamTransportError]:
        port = free_port()
        server = await asyncio.start_server(answer, "127.0.0.1", port, ssl=serving)
        url = f"https://127.0.0.1:{port}/v1"
        trusting = UpstreamHttp(headers={}, connect_timeout_s=5,
                                tls=ssl.create_default_context(cafile=str(certificate.certificate)))
        async with trusting.stream(url, "/chat/completions", b"{}") as response:
            body = await response.read()
        default = UpstreamHttp(headers={}, connect_timeout_s=5)
        with pytest.raises(UpstreamTransportError) as refused:
            async with default.stream(url, "/chat/completions", b"{}"):
                pass
        await trusting.aclose()
        await default.aclose()
        server.close()
        return body, refused.value

    body, refused = asyncio.run(run())
    assert body == b"data: {}" and refused.is_unreachable and "CERTIFICATE_VERIFY_FAILED" in str(refused)
