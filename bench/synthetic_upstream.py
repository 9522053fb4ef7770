"""A synthetic OpenAI-compatible upstream, a bench tool and not a model: it lists one model and answers
every chat completion with ready-made stream chunks written as fast as its socket allows, so that what
a benchmark measures through a runner fronting it is the runner's relay cost alone.

    python bench/synthetic_upstream.py PORT    (prints "ready" once it listens)
"""

from __future__ import annotations

import asyncio
import json
import sys

MODEL = "synthetic/relay-bench"
DEFAULT_TOKENS = 256


def _event(payload: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def stream_body(tokens: int) -> bytes:
    token = _event({"id": "bench", "object": "chat.completion.chunk", "model": MODEL,
                    "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]})
    finish = _event({"id": "bench", "object": "chat.completion.chunk", "model": MODEL,
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    usage = _event({"id": "bench", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
                    "usage": {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": tokens + 8}})
    return token * tokens + finish + usage + b"data: [DONE]\n\n"


class SyntheticUpstream:
    def __init__(self) -> None:
        self._bodies: dict[int, bytes] = {}

    def _stream(self, tokens: int) -> bytes:
        if tokens not in self._bodies:
            self._bodies[tokens] = stream_body(tokens)
        return self._bodies[tokens]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                if method == "GET" and path.endswith("/models"):
                    content = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                                 + str(len(content)).encode() + b"\r\n\r\n" + content)
                elif method == "POST" and path.endswith("/chat/completions"):
                    tokens = int(json.loads(body).get("max_tokens") or DEFAULT_TOKENS)
                    content = self._stream(tokens)
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: "
                                 + str(len(content)).encode() + b"\r\n\r\n" + content)
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(SyntheticUpstream().handle, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
