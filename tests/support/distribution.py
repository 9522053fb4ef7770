"""Driving the distribution service from synchronous tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import orjson

from modelrunner.core.references import parse_reference
from modelrunner.settings import Settings
from modelrunner.store import media_types
from modelrunner.store.distribution import Distribution
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore

Event = dict[str, Any]
WRITE_CHUNK = 16 * 1024 * 1024


async def collect(events: Awaitable[AsyncIterator[Event]]) -> list[Event]:
    return [event async for event in await events]


def pull(distribution: Distribution, name: str, *, keep_partial: bool | None = None) -> list[Event]:
    return asyncio.run(collect(distribution.pull(name, keep_partial=keep_partial)))


def push(distribution: Distribution, name: str) -> list[Event]:
    return asyncio.run(collect(distribution.push(name)))


def distribution_on(root: Path, **settings: Any) -> Distribution:
    """A distribution service on a store at `root`, with test-friendly settings."""
    base = Settings(store_path=root, docker_config_path=root / "no-docker-config.json",
                    registry_max_attempts=3, hf_endpoint="http://127.0.0.1:9")
    return Distribution(base.with_overrides(**settings), ModelStore(root))


def packaged_store(root: Path, gguf: Path, tag: str, **spec: Any) -> ModelStore:
    store = ModelStore(root)
    package_gguf(store, PackageSpec(gguf_paths=[gguf], **spec), [parse_reference(tag)])
    return store


def random_model_store(root: Path, name: str, size_bytes: int) -> tuple[ModelStore, str]:
    """A model whose one GGUF-typed layer is `size_bytes` of random data (nothing loads it here)."""
    store = ModelStore(root)
    store.ensure_layout()
    payload = root / "payload.bin"
    with payload.open("wb") as handle:
        for offset in range(0, size_bytes, WRITE_CHUNK):
            handle.write(os.urandom(min(WRITE_CHUNK, size_bytes - offset)))
    digest, size = store.put_blob_file(payload)
    payload.unlink()
    config = orjson.dumps({"config": {"format": "gguf", "size": f"{size} B"}, "descriptor": {}, "rootfs":
                           {"type": "rootfs", "diff_ids": [digest]}})
    config_digest = store.put_blob_bytes(config)
    manifest = {"schemaVersion": 2, "mediaType": media_types.OCI_MANIFEST,
                "config": {"mediaType": media_types.CONFIG_V01, "size": len(config), "digest": config_digest},
                "layers": [{"mediaType": media_types.GGUF, "size": size, "digest": digest}]}
    store.add_model(orjson.dumps(manifest), [parse_reference(name)])
    return store, digest
