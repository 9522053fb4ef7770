"""Embeddings through the official `openai` and `ollama` clients, on a real server with the tiny model."""

from __future__ import annotations

import math

import httpx
import ollama
import openai
import pytest

from tests.support.lifecycle import wait_until
from tests.support.server import RunningServer

MODEL = "ai/tiny"


@pytest.fixture(scope="module")
def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/engines/v1", api_key="unused")


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(value * value for value in vector))


def test_openai_embeds_a_batch_in_order_normalised(client: openai.OpenAI) -> None:
    texts = ["the cat sat on the mat", "stock prices fell", "hello"]
    batch = client.embeddings.create(model=MODEL, input=texts)
    assert [row.index for row in batch.data] == [0, 1, 2]
    assert batch.usage.prompt_tokens > 0
    for text, row in zip(texts, batch.data):
        alone = client.embeddings.create(model=MODEL, input=text).data[0].embedding
        assert row.embedding == pytest.approx(alone, abs=1e-4)  # batch order preserved, same text same vector
        assert _norm(row.embedding) == pytest.approx(1.0, abs=1e-3)
    assert batch.data[0].embedding != pytest.approx(batch.data[1].embedding, abs=1e-3)


def test_openai_base64_matches_float(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model=MODEL, input="same text", encoding_format="float")
    # The SDK asks for base64 by default and decodes it; ask for it explicitly over raw HTTP too.
    decoded = client.embeddings.create(model=MODEL, input="same text")
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    raw = httpx.post(str(client.base_url) + "embeddings",
                     json={"model": MODEL, "input": "same text", "encoding_format": "base64"}).json()
    assert isinstance(raw["data"][0]["embedding"], str)


def test_openai_dimensions_truncate_and_renormalise(client: openai.OpenAI) -> None:
    full = client.embeddings.create(model=MODEL, input="shorter", encoding_format="float").data[0].embedding
    short = client.embeddings.create(model=MODEL, input="shorter", dimensions=16,
                                     encoding_format="float").data[0].embedding
    assert len(short) == 16
    assert _norm(short) == pytest.approx(1.0, abs=1e-4)
    scale = _norm(full[:16])
    assert short == pytest.approx([value / scale for value in full[:16]], abs=1e-5)


def test_openai_token_ids_and_lists_of_them(client: openai.OpenAI) -> None:
    one = client.embeddings.create(model=MODEL, input=[104, 101, 108], encoding_format="float")
    many = client.embeddings.create(model=MODEL, input=[[104, 101, 108], [99, 97, 116]], encoding_format="float")
    assert len(one.data) == 1 and len(many.data) == 2
    assert many.data[0].embedding == pytest.approx(one.data[0].embedding, abs=1e-4)
    assert one.usage.prompt_tokens == 3
    packed = client.embeddings.create(model=MODEL, input=[[104, 101, 108]])  # the SDK asks for base64, decodes it
    assert packed.data[0].embedding == pytest.approx(one.data[0].embedding, abs=1e-6)


@pytest.mark.parametrize("route", ["/v1/embeddings", "/engines/llama.cpp/v1/embeddings"])
def test_every_route_embeds(server: RunningServer, route: str) -> None:
    answer = httpx.post(server.url + route, json={"model": MODEL, "input": ["a", "b"]})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]) == 2


def test_the_embedding_runner_is_its_own_runner_in_ps(client: openai.OpenAI, server: RunningServer) -> None:
    client.embeddings.create(model=MODEL, input="load it")
    client.completions.create(model=MODEL, prompt="hi", max_tokens=1)
    runners = httpx.get(server.url + "/engines/ps").json()
    tiny = [runner for runner in runners if runner["model_name"] == MODEL + ":latest"]
    assert tiny, runners
    assert {"embedding", "completion"} <= {runner["mode"] for runner in tiny}
    assert len({runner["pid"] for runner in tiny}) == len(tiny)  # a worker process each
    assert all(runner["memory"] for runner in tiny)
    prompt_cache = {runner["mode"]: runner["memory"]["prompt_cache"] for runner in tiny}
    assert prompt_cache["embedding"] == 0 < prompt_cache["completion"]  # nothing of an embedding is reused


@pytest.mark.parametrize(("body", "fragment"), [
    ({"input": ""}, "empty"),
    ({"input": []}, "empty"),
    ({"input": ["ok", ""]}, "input[1]"),
    ({"input": ["x"] * 100_000}, "at most"),
    ({"input": [[1, "two"]]}, "integers"),
    ({"input": [1.5, 2]}, "integers"),
    ({"input": [[999_999]]}, "invalid tokens"),
    ({"input": {"text": "no"}}, "expected"),
    ({"input": "fine", "dimensions": 100_000}, "dimensions"),
    ({"input": "fine", "dimensions": 0}, "dimensions"),
    ({"input": "fine", "dimensions": True}, "dimensions"),
    ({"input": "fine", "dimensions": "8"}, "dimensions"),
    ({"input": "fine", "encoding_format": "int8"}, "encoding_format"),
    ({"input": "word " * 3000}, "too long"),
])
def test_bad_input_is_a_clear_400(server: RunningServer, body: dict, fragment: str) -> None:
    answer = httpx.post(server.url + "/engines/v1/embeddings", json={"model": MODEL, **body}, timeout=60)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert fragment in error["message"]
    assert error["type"] == "invalid_request_error"


def test_unknown_model_is_a_404(server: RunningServer) -> None:
    answer = httpx.post(server.url + "/v1/embeddings", json={"model": "ai/nope", "input": "x"})
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found_error"


def test_ollama_embed_and_legacy_embeddings(server: RunningServer) -> None:
    client = ollama.Client(host=server.url)
    answer = client.embed(model=MODEL, input=["first", "second"])
    assert len(answer.embeddings) == 2
    assert answer.prompt_eval_count > 0
    assert _norm(answer.embeddings[0]) == pytest.approx(1.0, abs=1e-3)
    single = client.embed(model=MODEL, input="first", dimensions=8)
    assert len(single.embeddings[0]) == 8
    legacy = client.embeddings(model=MODEL, prompt="first")
    assert legacy.embedding == pytest.approx(answer.embeddings[0], abs=1e-4)


def test_ollama_truncates_long_input_unless_told_not_to(server: RunningServer) -> None:
    client = ollama.Client(host=server.url)
    long_text = "word " * 3000
    assert len(client.embed(model=MODEL, input=long_text).embeddings[0]) > 0
    with pytest.raises(ollama.ResponseError) as refused:
        client.embed(model=MODEL, input=long_text, truncate=False)
    assert refused.value.status_code == 400
    assert "too long" in refused.value.error


def test_ollama_bad_input_is_a_clear_400(server: RunningServer) -> None:
    for body in ({"input": []}, {"input": [1, 2]}, {"input": ""}, {"input": "x", "dimensions": 0},
                 {"input": "x", "dimensions": True}, {"input": "x", "dimensions": 100_000}):
        answer = httpx.post(server.url + "/api/embed", json={"model": MODEL, **body})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]
    answer = httpx.post(server.url + "/api/embeddings", json={"model": MODEL, "prompt": ""})
    assert answer.status_code == 400


def test_the_default_model_embeds_through_both_clients(default_model_server: RunningServer) -> None:
    openai_client = openai.OpenAI(base_url=default_model_server.url + "/engines/v1", api_key="unused")
    texts = ["The cat sat on the mat.", "A kitten rested on the rug.", "Interest rates rose again."]
    vectors = [row.embedding for row in openai_client.embeddings.create(model="ai/smollm2", input=texts).data]
    assert all(_norm(vector) == pytest.approx(1.0, abs=1e-3) for vector in vectors)
    ollama_vector = ollama.Client(host=default_model_server.url).embed(model="ai/smollm2", input=texts[0])
    assert ollama_vector.embeddings[0] == pytest.approx(vectors[0], abs=1e-4)


def test_langchain_openai_embeddings_pointed_at_the_runner(server: RunningServer) -> None:
    from langchain_openai import OpenAIEmbeddings

    # check_embedding_ctx_length=False: LangChain would otherwise fetch tiktoken's vocabulary from the internet.
    embedder = OpenAIEmbeddings(model=MODEL, base_url=server.url + "/engines/v1", api_key="unused",
                                check_embedding_ctx_length=False)
    documents = embedder.embed_documents(["first document", "second document"])
    query = embedder.embed_query("first document")
    assert len(documents) == 2 and len(query) == len(documents[0])
    assert query == pytest.approx(documents[0], abs=1e-4)


def test_ollama_embed_keep_alive_sets_how_long_the_runner_stays(server: RunningServer) -> None:
    client = ollama.Client(host=server.url)

    def embedding_runners() -> list[dict]:
        return [runner for runner in httpx.get(server.url + "/engines/ps").json()
                if runner["model_name"] == MODEL + ":latest" and runner["mode"] == "embedding"]

    client.embed(model=MODEL, input="stay", keep_alive="2h")
    assert [runner["keep_alive"] for runner in embedding_runners()] == [7200]
    client.embeddings(model=MODEL, prompt="stay longer", keep_alive="3h")
    assert [runner["keep_alive"] for runner in embedding_runners()] == [10800]
    client.embed(model=MODEL, input="then go", keep_alive=0)
    wait_until(lambda: not embedding_runners(), what="the embedding runner to unload")
