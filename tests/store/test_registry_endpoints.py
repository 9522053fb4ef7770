"""Where a registry name is reached and which credentials go with it."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from modelrunner.settings import Settings
from modelrunner.store.registry.challenge import parse_challenge
from modelrunner.store.registry.credentials import Credentials, find_credentials
from modelrunner.store.registry.endpoints import candidate_base_urls, is_loopback


@pytest.mark.parametrize(
    ("registry", "urls"),
    [
        ("docker.io", ["https://registry-1.docker.io"]),
        ("ghcr.io", ["https://ghcr.io"]),
        ("registry.example.com:8443", ["https://registry.example.com:8443"]),
        ("localhost:5000", ["https://localhost:5000", "http://localhost:5000"]),
        ("127.0.0.1:5000", ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]),
        ("[::1]:5000", ["https://[::1]:5000", "http://[::1]:5000"]),
    ],
)
def test_base_urls(registry: str, urls: list[str]) -> None:
    assert candidate_base_urls(Settings(), registry) == urls


def test_mirrors_come_first() -> None:
    settings = Settings.from_environ({"MODEL_RUNNER_REGISTRY_MIRRORS": "docker.io=http://mirror.local:5000|https://m2"})
    assert candidate_base_urls(settings, "docker.io") == ["http://mirror.local:5000", "https://m2",
                                                          "https://registry-1.docker.io"]


@pytest.mark.parametrize(("registry", "loopback"), [("localhost", True), ("127.0.0.2:80", True),
                                                    ("10.0.0.1:5000", False), ("docker.io", False)])
def test_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback


def _config(path: Path, auths: dict) -> Path:
    path.write_bytes(orjson.dumps({"auths": auths}))
    return path


def test_credentials_from_docker_config_and_settings(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"bob:pw:with:colons").decode()
    config = _config(tmp_path / "config.json", {
        "https://index.docker.io/v1/": {"auth": encoded},
        "registry.example.com": {"username": "carol", "password": "pw2"},
    })
    settings = Settings(docker_config_path=config)
    assert find_credentials(settings, "docker.io") == Credentials("bob", "pw:with:colons")
    assert find_credentials(settings, "registry.example.com") == Credentials("carol", "pw2")
    assert find_credentials(settings, "ghcr.io") is None
    explicit = settings.with_overrides(registry_user="dave", registry_password="pw3")
    assert find_credentials(explicit, "ghcr.io") == Credentials("dave", "pw3")
    assert find_credentials(Settings(docker_config_path=tmp_path / "absent.json"), "docker.io") is None


def test_bearer_challenge_parsing() -> None:
    challenge = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                                'scope="repository:ai/smollm2:pull"')
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.params["realm"] == "https://auth.docker.io/token"
    assert challenge.scopes == ["repository:ai/smollm2:pull"]
    assert parse_challenge('Basic realm="Registry Realm"').scheme == "basic"
    assert parse_challenge("") is None
