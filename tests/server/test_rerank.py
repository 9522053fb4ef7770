"""`/rerank` and `/score` on a real server with the tiny reranker (a ranking head) beside the tiny llama
(none)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.server import RunningServer
from tests.support.tiny_reranker import write_tiny_reranker_gguf

RERANKER = "ai/tiny-reranker"
DOCUMENTS = ["the cat sat on the mat", "stock prices fell sharply", "a kitten sleeps", "rain in spain"]


@pytest.fixture(scope="module")
def rerank_server(tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("rerank-store")
    store = ModelStore(root)
    reranker = write_tiny_reranker_gguf(tmp_path_factory.mktemp("rerank-gguf") / "tiny-reranker.gguf")
    package_gguf(store, PackageSpec(gguf_paths=[reranker]), [parse_reference(RERANKER)])
    package_gguf(store, PackageSpec(gguf_paths=[tiny_gguf]), [parse_reference("ai/tiny")])
    with RunningServer(root, tmp_path_factory.mktemp("logs") / "rerank.log") as running:
        yield running


@pytest.mark.parametrize("route", ["/rerank", "/score", "/v1/rerank", "/engines/rerank",
                                   "/engines/llama.cpp/rerank", "/engines/v1/rerank",
                                   "/v1/score", "/engines/score", "/engines/v1/score"])
def test_every_route_ranks_all_documents_sorted(rerank_server: RunningServer, route: str) -> None:
    answer = httpx.post(rerank_server.url + route,
                        json={"model": RERANKER, "query": "cats", "documents": DOCUMENTS}, timeout=60)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert sorted(result["index"] for result in results) == [0, 1, 2, 3]
    scores = [result["relevance_score"] for result in results]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) > 1  # the head scores documents differently
    assert all("document" not in result for result in results)
    assert answer.json()["usage"]["prompt_tokens"] > 0


def test_top_n_and_returned_documents(rerank_server: RunningServer) -> None:
    everything = httpx.post(rerank_server.url + "/rerank",
                            json={"model": RERANKER, "query": "cats", "documents": DOCUMENTS}).json()["results"]
    top = httpx.post(rerank_server.url + "/rerank",
                     json={"model": RERANKER, "query": "cats", "documents": [{"text": d} for d in DOCUMENTS],
                           "top_n": 2, "return_documents": True}).json()["results"]
    assert [r["index"] for r in top] == [r["index"] for r in everything[:2]]
    assert [r["document"]["text"] for r in top] == [DOCUMENTS[r["index"]] for r in top]
    again = httpx.post(rerank_server.url + "/rerank",
                       json={"model": RERANKER, "query": "cats", "documents": DOCUMENTS}).json()["results"]
    assert again == everything  # deterministic


def test_a_model_without_a_ranking_head_is_a_clear_400(rerank_server: RunningServer) -> None:
    answer = httpx.post(rerank_server.url + "/rerank", json={"model": "ai/tiny", "query": "q", "documents": ["d"]})
    assert answer.status_code == 400, answer.text
    assert "ranking head" in answer.json()["error"]["message"]
    assert httpx.get(rerank_server.url + "/").status_code == 200


def test_reranker_shows_in_ps_with_its_mode(rerank_server: RunningServer) -> None:
    httpx.post(rerank_server.url + "/rerank", json={"model": RERANKER, "query": "q", "documents": ["d"]})
    runners = httpx.get(rerank_server.url + "/engines/ps").json()
    assert "reranking" in {runner["mode"] for runner in runners}


@pytest.mark.parametrize(("body", "fragment"), [
    ({"query": "q", "documents": []}, "documents"),
    ({"query": "", "documents": ["d"]}, "query"),
    ({"query": "q", "documents": [""]}, "documents[0]"),
    ({"query": "q", "documents": [1]}, "documents[0]"),
    ({"query": "q", "documents": ["d"] * 5000}, "at most"),
    ({"query": "q", "documents": ["d"], "top_n": 0}, "top_n"),
    ({"query": "q", "documents": ["d"], "top_n": True}, "top_n"),
])
def test_bad_input_is_a_clear_400(rerank_server: RunningServer, body: dict, fragment: str) -> None:
    answer = httpx.post(rerank_server.url + "/rerank", json={"model": RERANKER, **body})
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]["message"]
