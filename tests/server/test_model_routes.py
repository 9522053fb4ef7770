"""The model management routes end to end, on a real server and a real registry: package (and push),
tag, push with a cross-repository mount, delete (409 with several tags), export, load, and pull
(`/models/create`) with its JSON-line progress and its errors."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.fake_hub import FakeHub, FakeRepo
from tests.support.registry import RegistryProcess
from tests.support.server import RunningServer
from tests.support.tiny_model import write_tiny_llama_gguf


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    folder = tmp_path_factory.mktemp("hub")
    files = {"tiny-Q8_0.gguf": write_tiny_llama_gguf(folder / "q8.gguf", seed=8)}
    with FakeHub({"TestOrg/Tiny-GGUF": FakeRepo(files)}) as running:
        yield running


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, hub: FakeHub) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("routes")
    env = {"MODEL_RUNNER_REGISTRY_ATTEMPTS": "2", "DOCKER_CONFIG": str(folder / "docker"), "HF_ENDPOINT": hub.endpoint,
           "MODEL_RUNNER_PACKAGE_DIRS": str(tmp_path_factory.getbasetemp())}  # these tests package by path
    with RunningServer(folder / "store", folder / "server.log", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def http(runner: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runner.url, timeout=60.0) as client:
        yield client


def lines(response: httpx.Response) -> list[dict]:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in response.text.splitlines() if line.strip()]


def test_package_push_tag_mount_delete_export_load_and_pull(http: httpx.Client, registry: RegistryProcess,
                                                            tiny_gguf: Path, tmp_path: Path) -> None:
    name = f"{registry.host}/routes/tiny:v1"
    license_file = tmp_path / "LICENSE"
    license_file.write_text("Apache-2.0\n")
    packaged = lines(http.post("/models/package", json={"gguf": str(tiny_gguf), "tag": name,
                                                        "licenses": [str(license_file)], "context_size": 1024,
                                                        "push": True}))
    assert packaged[-1]["type"] == "success", packaged
    assert packaged[-1]["message"] == f"Model pushed successfully to {name}"
    model = http.get(f"/models/{name}").json()
    assert model["config"]["context_size"] == 1024
    manifest = httpx.get(f"{registry.url}/v2/routes/tiny/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert "sha256:" + hashlib.sha256(manifest.content).hexdigest() == model["id"]

    copy = f"{registry.host}/routes/copy:v2"
    tagged = http.post(f"/models/{name}/tag", params={"repo": f"{registry.host}/routes/copy", "tag": "v2"})
    assert tagged.status_code == 201, tagged.text
    pushed = lines(http.post(f"/models/{copy}/push"))
    assert pushed[-1]["type"] == "success", pushed
    assert any(e["message"].startswith("Mounted") for e in pushed), pushed

    several = http.delete(f"/models/{model['id']}")
    assert several.status_code == 409, several.text
    assert "several tags" in several.json()["error"]["message"]
    assert http.delete(f"/models/{copy}").json() == [{"Untagged": f"{registry.host}/routes/copy:v2"}]

    exported = http.get(f"/models/{name}/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/x-tar"
    removed = http.delete(f"/models/{name}", params={"force": "true"}).json()
    assert {"Deleted": model["id"]} in removed
    assert http.get(f"/models/{name}").status_code == 404

    loaded = http.post("/models/load", content=exported.content)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["id"] == model["id"]
    assert http.get(f"/models/{name}").json()["id"] == model["id"]

    http.delete(f"/models/{name}", params={"force": "true"})
    pulled = lines(http.post("/models/create", json={"from": name}))
    assert pulled[-1] == {"type": "success", "message": "Model pulled successfully", "id": model["id"]}
    progress = [e for e in pulled if e["type"] == "progress"]
    assert progress and all({"total", "layer"} <= e.keys() for e in progress)
    assert progress[-1]["pulled"] == progress[-1]["total"]
    again = lines(http.post("/models/create", json={"from": name}))
    assert [e["type"] for e in again] == ["success"] and "up to date" in again[0]["message"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"from": "ai/../etc/passwd"}, 400, "invalid model reference"),
        ({"from": "ai/x\u0007"}, 400, "control characters"),
        ({"from": "Not A Ref!"}, 400, "invalid"),
        ({}, 400, "from: field required"),
    ],
)
def test_bad_references_are_refused_before_any_transfer(http: httpx.Client, body: dict, status: int,
                                                        fragment: str) -> None:
    response = http.post("/models/create", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]


def test_registry_errors_answer_with_their_status(http: httpx.Client, registry: RegistryProcess,
                                                  runner: RunningServer) -> None:
    missing = http.post("/models/create", json={"from": f"{registry.host}/routes/absent:v9"})
    assert missing.status_code == 404
    assert "model not found in registry" in missing.json()["error"]["message"]

    unreachable = http.post("/models/create", json={"from": "127.0.0.1:9/routes/tiny:v1"})
    assert unreachable.status_code == 502
    assert "unreachable" in unreachable.json()["error"]["message"]
    assert http.get("/models").json() == [] or all(
        "absent" not in tag for m in http.get("/models").json() for tag in m["tags"])


def test_tag_and_package_bad_input(http: httpx.Client, tmp_path: Path) -> None:
    assert http.post("/models/nothing-here/tag", params={"repo": "x/y"}).status_code == 404
    assert http.post("/models/nothing-here/tag").status_code == 400
    missing_file = http.post("/models/package", json={"gguf": str(tmp_path / "absent.gguf"), "tag": "me/m:1"})
    assert missing_file.status_code == 400
    assert "not a readable file" in missing_file.json()["error"]["message"]
    not_gguf = tmp_path / "fake.gguf"
    not_gguf.write_bytes(b"definitely not a gguf")
    refused = http.post("/models/package", json={"gguf": str(not_gguf), "tag": "me/m:1"})
    assert refused.status_code == 400
    assert "GGUF" in refused.json()["error"]["message"]
    bad_archive = http.post("/models/load", content=b"not a tar at all")
    assert bad_archive.status_code == 400
    assert "not a model archive" in bad_archive.json()["error"]["message"]


def test_a_hugging_face_pull_is_served(http: httpx.Client) -> None:
    pulled = lines(http.post("/models/create", json={"from": "hf.co/TestOrg/Tiny-GGUF:Q8_0"}))
    assert pulled[-1]["type"] == "success", pulled
    model = http.get("/models/hf.co/testorg/tiny-gguf:Q8_0").json()
    assert model["tags"] == ["huggingface.co/testorg/tiny-gguf:Q8_0"]
    answer = http.post("/engines/v1/chat/completions", json={
        "model": "hf.co/testorg/tiny-gguf:Q8_0", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
    assert answer.status_code == 200, answer.text
    assert answer.json()["usage"]["completion_tokens"] > 0
