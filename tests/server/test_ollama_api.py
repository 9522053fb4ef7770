"""The official `ollama` Python client against a real server on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
import ollama
import pytest

from tests.support.registry import RegistryProcess
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def client(server: RunningServer) -> ollama.Client:
    return ollama.Client(host=server.url)


def test_chat_answers_with_counts(client: ollama.Client) -> None:
    answer = client.chat(model="ai/tiny", messages=[{"role": "user", "content": "Hi"}],
                         options={"num_predict": 8, "seed": 1})
    assert answer.model == "ai/tiny"
    assert answer.message.role == "assistant"
    assert answer.message.content
    assert answer.done and answer.done_reason == "length"
    assert answer.eval_count == 8
    assert answer.prompt_eval_count > 0
    assert answer.total_duration > 0


def test_chat_streams_ndjson_until_done(client: ollama.Client) -> None:
    parts = list(client.chat(model="tiny", messages=[{"role": "user", "content": "Go"}], stream=True,
                             options={"num_predict": 12}))
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done
    assert "".join(p.message.content for p in parts[:-1])
    assert parts[-1].eval_count == 12


def test_generate_through_the_template_and_raw(client: ollama.Client) -> None:
    templated = client.generate(model="ai/tiny", prompt="Once", system="Be brief", options={"num_predict": 5})
    raw = client.generate(model="ai/tiny", prompt="Once", raw=True, options={"num_predict": 5})
    assert templated.response and raw.response
    assert templated.prompt_eval_count > raw.prompt_eval_count  # the template wraps the prompt
    streamed = list(client.generate(model="ai/tiny", prompt="x", stream=True, options={"num_predict": 4}))
    assert streamed[-1].done and streamed[-1].eval_count == 4


def test_format_schema_constrains_the_answer(client: ollama.Client) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    answer = client.chat(model="ai/tiny", messages=[{"role": "user", "content": "n?"}], format=schema,
                         options={"num_predict": 100, "seed": 2})
    jsonschema.validate(json.loads(answer.message.content), schema)


def test_stop_option_ends_the_answer(client: ollama.Client) -> None:
    free = client.generate(model="ai/tiny", prompt="go", raw=True, options={"num_predict": 40, "temperature": 0})
    stop = free.response[8:11]
    stopped = client.generate(model="ai/tiny", prompt="go", raw=True,
                              options={"num_predict": 40, "temperature": 0, "stop": [stop]})
    assert stopped.response == free.response[: free.response.index(stop)]
    assert stopped.done_reason == "stop"


def test_tags_show_ps_and_version(client: ollama.Client, server: RunningServer) -> None:
    names = [m.model for m in client.list().models]
    assert "ai/tiny:latest" in names
    shown = client.show("ai/tiny")
    assert shown.details.family == "llama"
    assert "im_start" in shown.template
    client.generate(model="ai/tiny", prompt="x", options={"num_predict": 1})
    assert "ai/tiny:latest" in [m.model for m in client.ps().models]
    assert httpx.get(server.url + "/api/version").json()["version"]


def test_errors_use_ollamas_envelope(client: ollama.Client, server: RunningServer) -> None:
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="ai/absent", messages=[{"role": "user", "content": "x"}])
    assert missing.value.status_code == 404
    assert "ai/absent" in missing.value.error
    bad = httpx.post(server.url + "/api/chat", json={"model": "ai/tiny", "messages": [{"role": "x", "content": "y"}]})
    assert bad.status_code == 400 and set(bad.json()) == {"error"}
    embed = httpx.post(server.url + "/api/embed", json={"model": "ai/tiny", "input": "x"})
    assert embed.status_code == 400 and "embeddings" in embed.json()["error"]


def test_an_empty_prompt_loads_and_keep_alive_zero_unloads(client: ollama.Client) -> None:
    loaded = client.generate(model="ai/tiny", prompt="")
    assert loaded.done_reason == "load"
    unloaded = client.generate(model="ai/tiny", prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert "ai/tiny:latest" not in [m.model for m in client.ps().models]


def test_pull_and_delete_through_a_real_registry(tmp_path: Path, tiny_gguf: Path, registry: RegistryProcess) -> None:
    with RunningServer(tmp_path / "models", tmp_path / "server.log",
                       env={"MODEL_RUNNER_PACKAGE_DIRS": str(tiny_gguf.parent)}) as server, \
            httpx.Client(base_url=server.url, timeout=60) as http:
        name = f"{registry.host}/ollama/tiny:v1"
        pushed = http.post("/models/package", json={"gguf": str(tiny_gguf), "tag": name, "push": True})
        assert pushed.status_code == 200 and b'"success"' in pushed.content.splitlines()[-1]
        client = ollama.Client(host=server.url)
        client.delete(name)
        assert name not in [m.model for m in client.list().models]
        statuses = [p.status for p in client.pull(name, stream=True)]
        assert statuses[-1] == "success"
        assert any(status.startswith("pulling ") for status in statuses)
        assert name in [m.model for m in client.list().models]
        assert client.generate(model=name, prompt="x", options={"num_predict": 2}).eval_count == 2
        with pytest.raises(ollama.ResponseError) as missing:
            client.delete(f"{registry.host}/ollama/absent:v1")
        assert missing.value.status_code == 404
