"""Session fixtures: a tiny random llama GGUF packaged into a temporary store, and servers on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.registry import RegistryProcess, registry_available
from tests.support.server import RunningServer
from tests.support.thinking_model import thinker_server as start_thinker_server
from tests.support.tiny_model import write_tiny_llama_gguf

TINY_MODEL = "ai/tiny"


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf")


def make_tiny_store(root: Path, gguf: Path) -> ModelStore:
    store = ModelStore(root)
    package_gguf(store, PackageSpec(gguf_paths=[gguf]), [parse_reference(TINY_MODEL)])
    return store


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path) -> ModelStore:
    return make_tiny_store(tmp_path_factory.mktemp("store"), tiny_gguf)


@pytest.fixture(scope="session")
def thinker_server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server on the tiny model under a template that thinks (tests/support/thinking_model.py)."""
    with start_thinker_server(tiny_gguf, tmp_path_factory.mktemp("thinker")) as running:
        yield running


@pytest.fixture(scope="session")
def server(tiny_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One shared server on the tiny model: tests must not change its store or configuration."""
    with RunningServer(tiny_store.root, tmp_path_factory.mktemp("logs") / "server.log") as running:
        yield running


@pytest.fixture(scope="session")
def default_model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server on a fresh store that imports the default SmolLM2 model, as a new install does."""
    store = tmp_path_factory.mktemp("default-store")
    with RunningServer(store, tmp_path_factory.mktemp("logs") / "default.log",
                       env={"MODEL_RUNNER_NO_DEFAULT_MODEL": "0", "MODEL_RUNNER_THREADS": "2"}) as running:
        yield running


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """A real anonymous plain-HTTP `docker-registry`, shared by the session: each test pushes to
    repositories of its own."""
    if not registry_available():
        pytest.fail("docker-registry is not installed: run scripts/install-registry.sh")
    with RegistryProcess(tmp_path_factory.mktemp("registry")) as running:
        yield running
