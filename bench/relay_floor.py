"""The least a Python relay on uvicorn can do per request, as a floor for modelrunner's server CPU: read a
Messages body, send the engine one OpenAI chat request over a kept-alive connection (at most one per
slot, as modelrunner admits them), and answer its text as a Messages answer; or read an embeddings body
and answer the engine's vectors. No checks, no validation, no scheduling, no metrics, no logs: what is
left is uvicorn, the JSON and one upstream round trip.

Run by `request_path.py` in a process of its own, so that its CPU is measured apart:

    python bench/relay_floor.py ENGINE_URL SLOTS

It prints the port it listens on (on 127.0.0.1), then serves until it is terminated.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvicorn

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class EngineLink:
    """Kept-alive HTTP/1.1 connections to the engine, at most `slots` in use at once."""

    def __init__(self, engine_url: str, slots: int) -> None:
        parts = urlsplit(engine_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(slots)

    async def post(self, path: str, body: bytes) -> bytes:
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        async with self.slots:
            while True:
                is_reused = bool(self.idle)
                reader, writer = self.idle.pop() if is_reused else await asyncio.open_connection(self.host, self.port)
                writer.write(request)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    break
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()  # the engine closed a kept-alive connection: once more on a new one
                    if not is_reused:
                        raise
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            answer = await reader.readexactly(length)
            self.idle.append((reader, writer))
        return answer


def messages_answer(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    usage = answer["usage"]
    return {"id": answer["id"], "type": "message", "role": "assistant", "model": request["model"],
            "content": [{"type": "text", "text": answer["choices"][0]["message"]["content"]}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}}


def embeddings_answer(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    return {"object": "list", "model": request["model"], "usage": answer["usage"],
            "data": [{"object": "embedding", "index": row["index"], "embedding": row["embedding"]}
                     for row in answer["data"]]}


def relay(link: EngineLink) -> Any:
    """`/v1/embeddings` to the engine's embeddings (an engine started in embedding mode), anything else
    as a Messages request to its chat completions."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = orjson.loads(body)
        if scope["path"] == "/v1/embeddings":
            engine_request = {"input": request["input"], "encoding_format": "float"}
            answer = orjson.loads(await link.post("/v1/embeddings", orjson.dumps(engine_request)))
            content = orjson.dumps(embeddings_answer(request, answer))
        else:
            engine_request = {"messages": request["messages"], "max_tokens": request["max_tokens"],
                              "temperature": request.get("temperature", 1.0)}
            answer = orjson.loads(await link.post("/v1/chat/completions", orjson.dumps(engine_request)))
            content = orjson.dumps(messages_answer(request, answer))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    return app


def main() -> None:
    engine_url, slots = sys.argv[1], int(sys.argv[2])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    config = uvicorn.Config(relay(EngineLink(engine_url, slots)), lifespan="off", log_level="warning",
                            access_log=False)
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
