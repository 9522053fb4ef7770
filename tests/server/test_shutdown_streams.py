"""SIGTERM with long streams running on each API: when the grace period ends, each stream gets its
API's error event (Anthropic `error` event, OpenAI error chunk, Ollama error line) before it closes,
and the server exits cleanly."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import orjson

from tests.conftest import make_tiny_store
from tests.support.server import RunningServer
from tests.support.tiny_model import write_tiny_llama_gguf

CONTEXT_TOKENS = 32768
HELLO = [{"role": "user", "content": "tell me everything"}]
STREAMS = {
    "anthropic": ("/v1/messages", {"model": "ai/tiny", "max_tokens": 30000, "stream": True, "messages": HELLO}),
    "openai": ("/v1/chat/completions", {"model": "ai/tiny", "max_tokens": 30000, "stream": True,
                                        "messages": HELLO}),
    "ollama": ("/api/chat", {"model": "ai/tiny", "stream": True, "messages": HELLO,
                             "options": {"num_predict": 30000}}),
}


def read_stream(url: str, path: str, body: dict, started: threading.Event, lines: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=120) as http, http.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            lines.append(line)
            if len(lines) > 3:
                started.set()


def test_streams_cut_by_shutdown_end_with_the_api_error_event(tmp_path: Path) -> None:
    gguf = write_tiny_llama_gguf(tmp_path / "long.gguf", context_length=CONTEXT_TOKENS)
    make_tiny_store(tmp_path / "store", gguf)
    runner = RunningServer(tmp_path / "store", tmp_path / "server.log",
                           env={"MODEL_RUNNER_CONTEXT_SIZE": str(CONTEXT_TOKENS), "MODEL_RUNNER_SHUTDOWN_GRACE": "1"})
    with runner:
        received: dict[str, list[str]] = {api: [] for api in STREAMS}
        started = {api: threading.Event() for api in STREAMS}
        readers = [threading.Thread(target=read_stream, args=(runner.url, path, body, started[api], received[api]))
                   for api, (path, body) in STREAMS.items()]
        for reader in readers:
            reader.start()
        for api, event in started.items():
            assert event.wait(60), f"the {api} stream never started"
        assert runner.process is not None
        runner.process.send_signal(signal.SIGTERM)
        for reader in readers:
            reader.join(60)
            assert not reader.is_alive(), "a stream did not end after the shutdown"
        assert runner.process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled

    anthropic = [line for line in received["anthropic"] if line]
    assert anthropic[-2] == "event: error", anthropic[-4:]
    error = orjson.loads(anthropic[-1].removeprefix("data: "))
    assert error["type"] == "error" and "shutting down" in error["error"]["message"], error

    openai = [line for line in received["openai"] if line.startswith("data: ")]
    last = openai[-1] if openai[-1] != "data: [DONE]" else openai[-2]
    assert "shutting down" in orjson.loads(last.removeprefix("data: "))["error"]["message"], openai[-3:]

    ollama = orjson.loads([line for line in received["ollama"] if line][-1])
    assert "shutting down" in ollama["error"], ollama
    assert "shutdown grace period over: ending 3 running stream(s)" in runner.log()
