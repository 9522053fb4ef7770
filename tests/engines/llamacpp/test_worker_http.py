"""The client of a llama.cpp worker, against a real worker on the tiny model listening on a Unix socket
(as the runner starts it) and on a loopback port (as the benches do): connections are reused where the
worker keeps them, a connection the worker closed is replaced without failing the
request, a stream left early closes its connection (so the worker stops generating), and a worker that
is gone, or a whole answer cut short (against a socket server that dies mid-body), is a connection error."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psutil
import pytest

from modelrunner.engines.llamacpp.worker_http import WorkerConnectionError, WorkerHttp
from modelrunner.engines.sse_lines import iter_lines

KEEP_ALIVE_TIMEOUT_S = 5  # cpp-httplib's default, which llama.cpp's server keeps
CHAT = orjson.dumps({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4, "stream": True})
TOKENIZE = orjson.dumps({"content": "hello world"})


class Worker:
    def __init__(self, gguf: Path, socket_path: Path | None) -> None:
        config = {"model_path": str(gguf), "context_size": 512, "parallel_slots": 2, "threads": 1,
                  "socket_path": str(socket_path) if socket_path else None}
        self.process = subprocess.Popen([sys.executable, "-m", "modelrunner.engines.llamacpp.worker",
                                         json.dumps(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        ready = json.loads(self.process.stdout.readline())
        assert ready.get("event") == "ready", ready
        self.url: str = ready["url"]
        self.socket_path = socket_path
        assert self.url == (f"unix://{socket_path}" if socket_path else self.url)

    def open_connections(self) -> int:
        """Connections the worker holds open from clients (accepted on its socket or listening port)."""
        process = psutil.Process(self.process.pid)
        if self.socket_path is not None:  # the listening socket and each accepted one carry its path
            return sum(1 for c in process.net_connections(kind="unix") if c.laddr == str(self.socket_path)) - 1
        port = int(self.url.rsplit(":", 1)[1])
        return sum(1 for c in process.net_connections(kind="tcp")
                   if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture(scope="module", params=["unix", "tcp"])
def worker(request: pytest.FixtureRequest, tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    socket_path = tmp_path_factory.mktemp("worker") / "worker.sock" if request.param == "unix" else None
    started = Worker(tiny_gguf, socket_path)
    yield started
    started.stop()


async def _stream_events(client: WorkerHttp) -> list[bytes]:
    async with client.stream("POST", "/v1/chat/completions", CHAT) as response:
        assert response.status_code == 200
        return [line async for line in iter_lines(response.chunks())]


def test_whole_answers_one_after_another_share_one_connection(worker: Worker) -> None:
    async def run() -> tuple[int, int]:
        client = WorkerHttp(worker.url)
        try:
            for _ in range(3):
                status, body = await client.request("POST", "/tokenize", TOKENIZE)
                assert status == 200 and orjson.loads(body)["tokens"]
            return client.idle_connections, worker.open_connections()
        finally:
            await client.aclose()

    assert asyncio.run(run()) == (1, 1)


def test_a_streamed_answer_is_read_to_its_end_and_its_connection_not_kept(worker: Worker) -> None:
    """The worker closes a connection it streamed on; reusing it would cost a failed send."""
    async def run() -> tuple[list[bytes], int, int]:
        client = WorkerHttp(worker.url)
        try:
            events = await _stream_events(client)
            kept_after_stream = client.idle_connections
            assert (await client.request("POST", "/tokenize", TOKENIZE))[0] == 200
            return events, kept_after_stream, client.idle_connections
        finally:
            await client.aclose()

    events, kept_after_stream, kept_after_tokenize = asyncio.run(run())
    assert events[-1] == b"data: [DONE]" and any(b'"finish_reason":"length"' in event for event in events)
    assert (kept_after_stream, kept_after_tokenize) == (0, 1)


def test_a_connection_the_worker_closed_is_replaced(worker: Worker) -> None:
    async def run() -> tuple[int, int]:
        client = WorkerHttp(worker.url)
        try:
            assert (await client.request("POST", "/tokenize", TOKENIZE))[0] == 200
            await asyncio.sleep(KEEP_ALIVE_TIMEOUT_S + 1)  # the worker closes the idle connection
            status, _ = await client.request("POST", "/tokenize", TOKENIZE)
            events = await _stream_events(client)
            return status, len(events)
        finally:
            await client.aclose()

    status, events = asyncio.run(run())
    assert status == 200 and events > 1


def test_an_error_answer_is_read_whole(worker: Worker) -> None:
    async def run() -> tuple[int, bytes]:
        client = WorkerHttp(worker.url)
        try:
            return await client.request("POST", "/v1/chat/completions", b"{not json")
        finally:
            await client.aclose()

    status, body = asyncio.run(run())
    assert status >= 400 and b"error" in body


def test_leaving_a_stream_early_closes_its_connection_and_the_worker_stops(worker: Worker) -> None:
    long_answer = orjson.dumps({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 400,
                                "stream": True, "ignore_eos": True})

    async def processing_slots(client: WorkerHttp) -> int:
        status, body = await client.request("GET", "/slots")
        assert status == 200
        return sum(1 for slot in orjson.loads(body) if slot["is_processing"])

    async def run() -> int:
        client = WorkerHttp(worker.url)
        try:
            async with client.stream("POST", "/v1/chat/completions", long_answer) as response:
                async for line in iter_lines(response.chunks()):
                    if b'"content"' in line:
                        break
            assert client.idle_connections == 0
            deadline = time.monotonic() + 30
            while await processing_slots(client) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return await processing_slots(client)
        finally:
            await client.aclose()

    assert asyncio.run(run()) == 0


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_a_worker_that_is_gone_is_a_connection_error(transport: str, tiny_gguf: Path, tmp_path: Path) -> None:
    gone = Worker(tiny_gguf, tmp_path / "worker.sock" if transport == "unix" else None)
    gone.stop()

    async def run() -> None:
        client = WorkerHttp(gone.url)
        with pytest.raises(WorkerConnectionError):
            await client.request("POST", "/tokenize", TOKENIZE)

    asyncio.run(run())


async def _answer_cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A server that dies in the middle of a sized answer: its head promises more than it sends."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"tok")
    await writer.drain()
    writer.close()


def test_a_whole_answer_cut_short_is_a_connection_error_and_its_connection_not_kept() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(_answer_cut_short, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = WorkerHttp(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(WorkerConnectionError, match="broke off"):
                await client.request("POST", "/tokenize", TOKENIZE)
            assert client.idle_connections == 0
        finally:
            await client.aclose()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
