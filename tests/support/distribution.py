"""Driving the distribution service from synchronous tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

from modelrunner.core.references import parse_reference
from modelrunner.settings import Settings
from modelrunner.store.distribution import Distribution
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore

Event = dict[str, Any]


async def collect(events: Awaitable[AsyncIterator[Event]]) -> list[Event]:
    return [event async for event in await events]


def pull(distribution: Distribution, name: str) -> list[Event]:
    return asyncio.run(collect(distribution.pull(name)))


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
