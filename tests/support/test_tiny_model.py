"""Check that the tiny GGUF model really works in llama.cpp.

The rest of the test suite relies on ``write_tiny_llama_gguf`` standing in for
a real model, so these tests load it in llama.cpp's HTTP server (through
``xllamacpp``) and exercise the endpoints the runner uses: health, chat
completions (plain, streamed and JSON-schema constrained), template
rendering and tokenization.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import gguf
import pytest

from .tiny_model import write_tiny_llama_gguf

httpx = pytest.importorskip("httpx")

CONTEXT_LENGTH = 1024

# Runs in a child process so llama.cpp's threads never live in the pytest
# process. The child prints the server URL, then serves until its stdin
# closes, which also happens when the parent dies. One thread: llama.cpp's
# threads spin-wait on each other, and on a busy CI machine two threads ran
# this model at 20-100 tok/s instead of thousands.
SERVER_SCRIPT = """
import sys
import xllamacpp as x
p = x.CommonParams()
p.model.path = sys.argv[1]
p.n_parallel = 4
p.n_ctx = 4 * int(sys.argv[2])
p.port = 0
p.use_jinja = True
p.cpuparams.n_threads = 1
p.cpuparams_batch.n_threads = 1
server = x.Server(p)
print("URL " + server.listening_address, flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Write the tiny model once for the module."""
    return write_tiny_llama_gguf(
        tmp_path_factory.mktemp("tiny") / "tiny.gguf", context_length=CONTEXT_LENGTH
    )


@pytest.fixture(scope="module")
def client(
    model_path: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Serve the tiny model with llama.cpp in a child process; yield an httpx client."""
    pytest.importorskip("xllamacpp")
    log_path = tmp_path_factory.mktemp("llama-log") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, str(model_path), str(CONTEXT_LENGTH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("URL "):
            pytest.fail(
                f"llama.cpp server did not start: {line!r}\n{log_path.read_text()}"
            )
        with httpx.Client(base_url=line[4:].strip(), timeout=60) as http:
            yield http
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chat(client: Any, **body: Any) -> dict[str, Any]:
    """POST a chat completion and return the decoded JSON response."""
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_write_is_small_and_deterministic(tmp_path: pathlib.Path) -> None:
    first = write_tiny_llama_gguf(tmp_path / "a.gguf", seed=1, context_length=4096)
    second = write_tiny_llama_gguf(tmp_path / "b.gguf", seed=1, context_length=4096)
    other = write_tiny_llama_gguf(tmp_path / "c.gguf", seed=2, context_length=4096)

    assert first == tmp_path / "a.gguf"
    assert first.stat().st_size < 1_000_000
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()

    reader = gguf.GGUFReader(first)
    assert reader.fields["general.name"].contents() == "tiny-llama"
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["llama.context_length"].contents() == 4096
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert "<|im_start|>" in reader.fields["tokenizer.chat_template"].contents()


def test_health(client: Any) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_model_metadata(client: Any) -> None:
    meta = client.get("/v1/models").json()["data"][0]["meta"]
    assert meta["n_ctx_train"] == CONTEXT_LENGTH
    assert meta["n_embd"] == 64


def test_chat_completion(client: Any) -> None:
    data = chat(client, messages=[{"role": "user", "content": "Hi"}], max_tokens=32)
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["message"]["content"]
    assert choice["finish_reason"] in {"length", "stop"}
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0
    assert 0 < usage["completion_tokens"] <= 32
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_greedy_generation_is_deterministic(client: Any) -> None:
    body = {
        "messages": [{"role": "user", "content": "Same"}],
        "max_tokens": 24,
        "temperature": 0,
    }
    first = chat(client, **body)["choices"][0]["message"]["content"]
    second = chat(client, **body)["choices"][0]["message"]["content"]
    assert first == second


def test_streaming(client: Any) -> None:
    body = {
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks: list[dict[str, Any]] = []
    done = False
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                break
            chunks.append(json.loads(line[len("data: ") :]))
    assert done
    text = "".join(
        choice["delta"].get("content") or ""
        for chunk in chunks
        for choice in chunk["choices"]
    )
    assert text
    finish = [
        c["finish_reason"]
        for chunk in chunks
        for c in chunk["choices"]
        if c["finish_reason"]
    ]
    assert finish == ["length"] or finish == ["stop"]
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_apply_template_renders_chatml(client: Any) -> None:
    response = client.post(
        "/apply-template",
        json={
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "Hi"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["prompt"] == (
        "<|im_start|>system\nS<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_apply_template_handles_parts_tool_calls_and_late_system(client: Any) -> None:
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "Paris"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "system", "content": "late"},
    ]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                },
            },
        }
    ]
    for extra in ({}, {"tools": tools}):
        response = client.post("/apply-template", json={"messages": messages, **extra})
        assert response.status_code == 200, response.text
        prompt = response.json()["prompt"]
        assert "<|im_start|>user\nab<|im_end|>\n" in prompt
        assert (
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}'
            in prompt
        )
        assert "<|im_start|>tool\nsunny<|im_end|>\n" in prompt
        assert "<|im_start|>system\nlate<|im_end|>\n" in prompt
        assert prompt.endswith("<|im_start|>assistant\n")
    system_turn = prompt.split("<|im_end|>")[0]
    assert '"name": "get_weather"' in system_turn


@pytest.mark.parametrize(
    "text",
    ["héllo 👋\nworld", "日本語\t\r\n  the thing  ", '{"a": [1, 2.5e-3]}', "\x00\x7f"],
)
def test_any_text_tokenizes_and_round_trips(client: Any, text: str) -> None:
    response = client.post("/tokenize", json={"content": text})
    assert response.status_code == 200, response.text
    tokens = response.json()["tokens"]
    assert tokens
    detok = client.post("/detokenize", json={"tokens": tokens}).json()["content"]
    assert detok == text


def test_json_schema_response_format(client: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
    }
    for attempt in range(3):
        data = chat(
            client,
            messages=[{"role": "user", "content": f"Give JSON {attempt}"}],
            max_tokens=200,
            response_format={"type": "json_schema", "json_schema": {"schema": schema}},
        )
        choice = data["choices"][0]
        assert choice["finish_reason"] == "stop"
        value = json.loads(choice["message"]["content"])
        assert isinstance(value["a"], int)


def test_generation_runs_to_max_tokens(client: Any) -> None:
    """The biased random weights keep the model talking: long generations exercise streaming."""
    data = chat(
        client,
        messages=[{"role": "user", "content": "Go"}],
        max_tokens=200,
        temperature=0,
    )
    assert data["usage"]["completion_tokens"] == 200
    assert data["choices"][0]["finish_reason"] == "length"
