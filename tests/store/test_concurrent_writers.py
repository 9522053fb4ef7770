"""The store under concurrent writers, in one runner and across two runners sharing one store: every
200 is in the index afterwards, a delete racing another delete is a 404 (never a hang or a 500), and
per-model settings written by one runner survive the other's.

Every request has a bounded timeout: a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import make_tiny_store
from tests.support.server import RunningServer

REQUEST_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def two_runners(tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path) -> Iterator[tuple[RunningServer, ...]]:
    folder = tmp_path_factory.mktemp("shared-store")
    make_tiny_store(folder / "store", tiny_gguf)
    env = {"MODEL_RUNNER_PACKAGE_DIRS": str(tiny_gguf.parent)}  # the tests package by path
    with RunningServer(folder / "store", folder / "a.log", env=env) as first, \
            RunningServer(folder / "store", folder / "b.log", env=env) as second:
        yield first, second


def in_parallel(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result(timeout=REQUEST_TIMEOUT_S * 2) for future in futures]


def package(runner: RunningServer, gguf: Path, tag: str) -> Callable[[], httpx.Response]:
    return lambda: httpx.post(runner.url + "/models/package", json={"gguf": str(gguf), "tag": tag},
                              timeout=REQUEST_TIMEOUT_S)


def tag(runner: RunningServer, source: str, repository: str) -> Callable[[], httpx.Response]:
    return lambda: httpx.post(f"{runner.url}/models/{source}/tag", params={"repo": repository},
                              timeout=REQUEST_TIMEOUT_S)


def delete(runner: RunningServer, name: str) -> Callable[[], httpx.Response]:
    return lambda: httpx.delete(f"{runner.url}/models/{name}", timeout=REQUEST_TIMEOUT_S)


def succeeded(response: httpx.Response) -> bool:
    """A package answer is JSON lines ending in a success event; the others are plain statuses."""
    assert response.status_code < 500, response.text
    if response.status_code >= 300:
        return False
    if response.headers["content-type"].startswith("application/x-ndjson"):
        last = orjson.loads(response.text.strip().splitlines()[-1])
        assert last["type"] in ("success", "error"), last
        assert last["type"] == "success" or "internal error" not in last["message"], last
        return last["type"] == "success"
    return True


def indexed_tags(store: Path) -> set[str]:
    document = orjson.loads((store / "models.json").read_bytes())
    return {tag for entry in document["models"] for tag in entry["tags"]}


def test_concurrent_packages_and_tags_in_one_runner_are_all_kept(
        two_runners: tuple[RunningServer, ...], tiny_gguf: Path) -> None:
    runner = two_runners[0]
    packaged = [f"docker.io/one/packaged-{i}:latest" for i in range(12)]
    tagged = [f"docker.io/one/tagged-{i}:latest" for i in range(12)]
    calls = [package(runner, tiny_gguf, name) for name in packaged]
    calls += [tag(runner, "ai/tiny", name.removesuffix(":latest")) for name in tagged]
    responses = in_parallel(calls)
    answered = {name for name, response in zip(packaged + tagged, responses) if succeeded(response)}
    assert answered == set(packaged + tagged), [r.text for r in responses]
    assert answered <= indexed_tags(runner.store)
    listed = {tag for model in httpx.get(runner.url + "/models", timeout=30).json() for tag in model["tags"]}
    assert {name.removeprefix("docker.io/") for name in answered} <= listed


def test_two_runners_package_tag_and_delete_on_one_store(
        two_runners: tuple[RunningServer, ...], tiny_gguf: Path) -> None:
    first, second = two_runners
    names = [f"docker.io/two/model-{i}:latest" for i in range(8)]
    responses = in_parallel([package(first if i % 2 else second, tiny_gguf, name) for i, name in enumerate(names)]
                            + [tag(second if i % 2 else first, "ai/tiny", f"two/extra-{i}") for i in range(8)])
    assert all(succeeded(response) for response in responses), [r.text for r in responses]
    assert set(names) | {f"docker.io/two/extra-{i}:latest" for i in range(8)} <= indexed_tags(first.store)

    # Each model deleted by both runners at once: exactly one succeeds, the other finds it gone.
    deletes = in_parallel([delete(runner, name) for name in names for runner in (first, second)])
    for position, name in enumerate(names):
        pair = deletes[2 * position:2 * position + 2]
        statuses = sorted(response.status_code for response in pair)
        assert statuses == [200, 404], (name, [r.text for r in pair])
        assert "not found" in next(r for r in pair if r.status_code == 404).text
    remaining = indexed_tags(first.store)
    assert not remaining & set(names)
    for runner in (first, second):  # a manifest deleted by the other runner is a 404, not a 500
        for name in names[:3]:
            response = httpx.get(f"{runner.url}/models/{name}", timeout=30)
            assert response.status_code == 404, response.text


def test_a_model_the_other_runner_deleted_is_gone_from_this_ones_model_routes_at_once(
        two_runners: tuple[RunningServer, ...], tiny_gguf: Path) -> None:
    """Generation may answer from a second-old memory of the store's names; the model routes must not,
    or a model another runner just deleted would still be shown here."""
    first, second = two_runners
    name = "docker.io/two/gone-at-once:latest"
    assert succeeded(package(first, tiny_gguf, name)())
    assert httpx.get(f"{first.url}/models/{name}", timeout=30).status_code == 200  # remembered by `first`
    assert delete(second, name)().status_code == 200
    response = httpx.get(f"{first.url}/models/{name}", timeout=30)
    assert response.status_code == 404, response.text


def test_settings_written_by_two_runners_are_merged(
        two_runners: tuple[RunningServer, ...], tiny_gguf: Path) -> None:
    first, second = two_runners
    names = [f"docker.io/settings/model-{i}:latest" for i in range(8)]
    assert all(succeeded(r) for r in in_parallel([package(first, tiny_gguf, name) for name in names]))
    sizes = {name: 512 + 64 * i for i, name in enumerate(names)}

    def configure(runner: RunningServer, name: str, body: dict[str, Any]) -> Callable[[], httpx.Response]:
        return lambda: httpx.post(runner.url + "/engines/_configure", json={"model": name, **body},
                                  timeout=REQUEST_TIMEOUT_S)

    calls = [configure(first if i % 2 else second, name, {"context-size": sizes[name]})
             for i, name in enumerate(names)]
    calls += [configure(second if i % 2 else first, name, {"keep_alive": "7m"}) for i, name in enumerate(names)]
    responses = in_parallel(calls)
    assert all(response.status_code == 202 for response in responses), [r.text for r in responses]
    for runner in (first, second):
        stored = {entry["model"]: entry for entry in httpx.get(runner.url + "/engines/_configure", timeout=30).json()}
        for name in names:
            short = name.removeprefix("docker.io/")
            assert stored[short]["context-size"] == sizes[name], (runner.url, stored[short])
            assert stored[short]["keep_alive"] == "7m", (runner.url, stored[short])
