"""Pulls that go wrong: dropped connections resume with HTTP Range, a killed pull resumes from its
`.incomplete` file, tampered blobs are refused, server errors are retried, and concurrent pulls of one
model download each blob once. A counting proxy sits between the client and a real registry."""

from __future__ import annotations

import asyncio
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelrunner.core.errors import RegistryUnavailable, StoreError
from modelrunner.store import media_types
from modelrunner.store.store import ModelStore
from tests.support.counting_proxy import CountingProxy
from tests.support.distribution import collect, distribution_on, packaged_store, pull, push
from tests.support.registry import RegistryProcess


@pytest.fixture
def proxy(registry: RegistryProcess) -> Iterator[CountingProxy]:
    with CountingProxy(registry.url) as running:
        yield running


@pytest.fixture
def published(registry: RegistryProcess, tiny_gguf: Path, tmp_path: Path, request: pytest.FixtureRequest) -> ModelStore:
    """A model pushed to `resilience/<test name>:v1`; returns its source store."""
    name = f"{registry.host}/resilience/{request.node.name.replace('_', '-').lower()}:v1"
    source = packaged_store(tmp_path / "source", tiny_gguf, name)
    assert push(distribution_on(source.root), name)[-1]["type"] == "success"
    return source


def _gguf_layer(store: ModelStore) -> dict:
    model = store.list_models()[0]
    return model.layers_of(media_types.GGUF)[0]


def _through(proxy: CountingProxy, store: ModelStore) -> str:
    """The published model's name, reached through the proxy."""
    return store.list_models()[0].tags[0].replace(store.list_models()[0].tags[0].split("/")[0], proxy.host, 1)


def test_a_dropped_connection_resumes_with_a_range_request(proxy: CountingProxy, published: ModelStore,
                                                           tmp_path: Path) -> None:
    layer = _gguf_layer(published)
    half = layer["size"] // 2
    proxy.faults.cut_digest, proxy.faults.cut_blob_after_bytes, proxy.faults.cut_count = layer["digest"], half, 1
    target = distribution_on(tmp_path / "target", pull_concurrency=1)

    events = pull(target, _through(proxy, published))

    assert events[-1]["type"] == "success", events
    assert proxy.record.ranges == [f"bytes={half}-"]
    path = next(p for p in proxy.record.blob_bytes if layer["digest"] in p)
    assert proxy.record.blob_bytes[path] == layer["size"]
    assert target.store.has_blob(layer["digest"])


def test_a_failed_pull_with_keep_partial_resumes_from_its_incomplete_file(proxy: CountingProxy, published: ModelStore,
                                                        tmp_path: Path) -> None:
    layer = _gguf_layer(published)
    third = layer["size"] // 3
    proxy.faults.cut_digest, proxy.faults.cut_blob_after_bytes, proxy.faults.cut_count = layer["digest"], third, 1
    first = distribution_on(tmp_path / "target", registry_max_attempts=1, pull_concurrency=1)
    name = _through(proxy, published)

    with pytest.raises(RegistryUnavailable, match="pulling again resumes it"):
        pull(first, name, keep_partial=True)
    assert first.store.list_models() == []
    partial = first.store.incomplete_blob_path(layer["digest"])
    assert partial.stat().st_size == third
    first_bytes = sum(n for p, n in proxy.record.blob_bytes.items() if layer["digest"] in p)

    proxy.reset()
    second = distribution_on(tmp_path / "target")
    events = pull(second, name)

    assert events[-1]["type"] == "success", events
    second_bytes = sum(n for p, n in proxy.record.blob_bytes.items() if layer["digest"] in p)
    assert second_bytes == layer["size"] - first_bytes < layer["size"]
    assert proxy.record.ranges == [f"bytes={third}-"]
    assert not partial.exists()
    assert second.store.find(name).id == published.list_models()[0].id


def test_server_errors_are_retried(proxy: CountingProxy, published: ModelStore, tmp_path: Path) -> None:
    proxy.faults.fail_status, proxy.faults.fail_count = 503, 2
    target = distribution_on(tmp_path / "target", registry_max_attempts=3)
    assert pull(target, _through(proxy, published))[-1]["type"] == "success"


def test_a_registry_that_keeps_failing_leaves_the_store_unchanged(proxy: CountingProxy, published: ModelStore,
                                                                    tmp_path: Path) -> None:
    proxy.faults.fail_status, proxy.faults.fail_count = 500, 100
    target = distribution_on(tmp_path / "target", registry_max_attempts=2)
    with pytest.raises(RegistryUnavailable, match="HTTP 500"):
        pull(target, _through(proxy, published))
    assert target.store.list_models() == []
    assert not list((tmp_path / "target" / "blobs" / "sha256").iterdir())


def test_a_tampered_blob_is_refused_and_the_store_unchanged(registry: RegistryProcess, published: ModelStore,
                                                            tmp_path: Path) -> None:
    layer = _gguf_layer(published)
    name = published.list_models()[0].tags[0]
    data_file = registry.blob_file("", layer["digest"])
    original = data_file.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0xFF
    data_file.write_bytes(bytes(tampered))
    target = distribution_on(tmp_path / "target")
    try:
        with pytest.raises(StoreError, match="digest mismatch"):
            pull(target, name)
    finally:
        data_file.write_bytes(original)
    assert target.store.list_models() == []
    assert not target.store.has_blob(layer["digest"])
    assert not target.store.incomplete_blob_path(layer["digest"]).exists()


def test_concurrent_pulls_of_one_model_download_each_blob_once(proxy: CountingProxy, published: ModelStore,
                                                                tmp_path: Path) -> None:
    proxy.faults.blob_delay_s = 0.3
    target = distribution_on(tmp_path / "target")
    name = _through(proxy, published)

    async def both() -> list[list[dict]]:
        return list(await asyncio.gather(collect(target.pull(name)), collect(target.pull(name))))

    first, second = asyncio.run(both())

    assert first[-1]["type"] == second[-1]["type"] == "success"
    assert first[-1]["id"] == second[-1]["id"]
    model = published.list_models()[0]
    assert sorted(proxy.record.blob_requests.values()) == [1] * len(model.blob_digests)


def test_a_pull_that_goes_away_does_not_break_the_one_sharing_its_download(
        proxy: CountingProxy, published: ModelStore, tmp_path: Path) -> None:
    proxy.faults.blob_delay_s = 0.5
    target = distribution_on(tmp_path / "target")
    name = _through(proxy, published)

    async def scenario() -> list[dict]:
        leaving = asyncio.ensure_future(collect(target.pull(name)))
        while not proxy.record.blob_requests:
            await asyncio.sleep(0.01)
        staying = asyncio.ensure_future(collect(target.pull(name)))
        await asyncio.sleep(0.1)
        leaving.cancel()
        return await staying

    events = asyncio.run(scenario())
    assert events[-1]["type"] == "success", events
    assert target.store.find(name).id == published.list_models()[0].id


@pytest.fixture
def file_size_limit() -> Iterator[int]:
    """Writes past 100 kB fail with EFBIG for this process: a stand-in for a full disk."""
    limit = 100_000
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, previous_limit[1]))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
        signal.signal(signal.SIGXFSZ, previous_handler)


def test_a_disk_that_refuses_bytes_fails_clearly_without_retrying(proxy: CountingProxy, published: ModelStore,
                                                                   tmp_path: Path, file_size_limit: int) -> None:
    target = distribution_on(tmp_path / "target", registry_max_attempts=3)
    name = _through(proxy, published)
    layer = _gguf_layer(published)
    assert layer["size"] > file_size_limit
    with pytest.raises(StoreError, match="cannot write blob .* File too large"):
        pull(target, name)
    assert target.store.list_models() == []
    assert proxy.record.blob_requests[next(p for p in proxy.record.blob_requests if layer["digest"] in p)] == 1
