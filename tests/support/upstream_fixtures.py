"""Session fixtures for the remote engine: two llama.cpp servers and a second modelrunner (behind an
API key) as upstreams, and a front modelrunner that registers them. Import them into a conftest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_tiny_store
from tests.support.server import RunningServer
from tests.support.upstreams import LlamaCppServer

UPSTREAMS_ON = {"MODEL_RUNNER_UPSTREAMS": "1"}  # the remote engine is off unless the runner is started with it
UPSTREAM_KEY_ENV = "MODELRUNNER_TEST_UPSTREAM_KEY"
UPSTREAM_KEY = "upstream-secret-5f0c1e"  # a value no log line may ever show
FLEET = "team/tiny"
PEER = "peer/tiny"
REPLICA_CONTEXT = 16384  # room for a long answer, so a replica can be killed while it streams
FLEET_ALIAS = "fleet"
CLAUDE_ALIAS = "claude-sonnet-4-6"
"""Names the front maps to FLEET (MODEL_RUNNER_ALIASES); other `claude-*` names fall back to it as the
default model."""


@dataclass
class Fleet:
    front: RunningServer
    replicas: list[LlamaCppServer]
    peer: RunningServer

    def register(self, body: dict[str, object]) -> httpx.Response:
        return httpx.post(self.front.url + "/engines/upstreams", json=body, timeout=60)


@pytest.fixture(scope="session")
def llamacpp_replicas(tiny_gguf: Path) -> Iterator[list[LlamaCppServer]]:
    replicas = [LlamaCppServer(tiny_gguf, context_size=REPLICA_CONTEXT) for _ in range(2)]
    try:
        for replica in replicas:
            replica.start()
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()


@pytest.fixture(scope="session")
def peer_runner(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Another modelrunner serving the tiny model, which only answers callers with its API key, one
    request at a time and none queued (so a second request at once is its 429)."""
    store = make_tiny_store(tmp_path_factory.mktemp("peer-store"), tiny_gguf)
    with RunningServer(store.root, tmp_path_factory.mktemp("logs") / "peer.log",
                       env={"MODEL_RUNNER_API_KEY": UPSTREAM_KEY, "MODEL_RUNNER_PARALLEL": "1",
                            "MODEL_RUNNER_QUEUE_LENGTH": "0"}, ready_headers={"x-api-key": UPSTREAM_KEY}) as running:
        yield running


@pytest.fixture(scope="session")
def fleet(llamacpp_replicas: list[LlamaCppServer], peer_runner: RunningServer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A front modelrunner with no models of its own, fronting both kinds of upstream."""
    front = RunningServer(tmp_path_factory.mktemp("front-store"), tmp_path_factory.mktemp("logs") / "front.log",
                          env={**UPSTREAMS_ON, UPSTREAM_KEY_ENV: UPSTREAM_KEY, "MODEL_RUNNER_UPSTREAM_HEALTH_INTERVAL": "0.3",
                               "MODEL_RUNNER_UPSTREAM_TIMEOUT": "3",
                               "MODEL_RUNNER_ALIASES": f"{CLAUDE_ALIAS}={FLEET},{FLEET_ALIAS}={FLEET}",
                               "MODEL_RUNNER_DEFAULT_MODEL": FLEET})
    with front:
        running = Fleet(front=front, replicas=llamacpp_replicas, peer=peer_runner)
        registered = running.register({"name": FLEET, "urls": [replica.url for replica in llamacpp_replicas]})
        assert registered.status_code == 201, registered.text
        registered = running.register({"name": PEER, "urls": [peer_runner.url + "/engines/v1"], "model": "ai/tiny",
                                       "api_key_env": UPSTREAM_KEY_ENV, "max_concurrency": 4})
        assert registered.status_code == 201, registered.text
        yield running
