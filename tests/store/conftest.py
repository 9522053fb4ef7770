"""Registries for the distribution tests: real `docker-registry` processes on loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.registry import RegistryProcess, registry_available


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """An anonymous plain-HTTP registry shared by the session; tests use their own repositories."""
    if not registry_available():
        pytest.fail("docker-registry is not installed: run scripts/install-registry.sh")
    with RegistryProcess(tmp_path_factory.mktemp("registry")) as running:
        yield running
