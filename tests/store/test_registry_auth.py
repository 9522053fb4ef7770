"""Registry authentication against real registries: htpasswd (bcrypt) over TLS with a certificate the
test makes, credentials from settings or `~/.docker/config.json`, and the bearer-token challenge with
a token service beside the registry."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from modelrunner.core.errors import AuthenticationFailed, RegistryUnavailable
from tests.support.certificates import CertificateFiles, make_self_signed
from tests.support.distribution import distribution_on, packaged_store, pull, push
from tests.support.registry import RegistryProcess, write_htpasswd
from tests.support.token_service import TokenService

USER, PASSWORD = "alice", "s3cret-pass"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory, tls: CertificateFiles) -> Iterator[RegistryProcess]:
    folder = tmp_path_factory.mktemp("basic-registry")
    htpasswd = write_htpasswd(folder / "htpasswd", {USER: PASSWORD})
    registry = RegistryProcess(folder, tls=(tls.certificate, tls.key),
                               auth={"htpasswd": {"realm": "modelrunner-tests", "path": str(htpasswd)}})
    registry.start(ca_file=tls.certificate)
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    signing = make_self_signed(tmp_path_factory.mktemp("token-signing"), name="token-signer")
    with TokenService(signing, USER, PASSWORD) as service:
        yield service


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory, token_service: TokenService) -> Iterator[RegistryProcess]:
    with RegistryProcess(tmp_path_factory.mktemp("token-registry"), auth=token_service.registry_auth()) as registry:
        yield registry


def _docker_config(folder: Path, registry: str, user: str, password: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_bytes(orjson.dumps({"auths": {registry: {"auth": encoded}}}))
    return path


def test_basic_auth_over_tls_with_settings_then_docker_config(basic_registry: RegistryProcess,
                                                              tls: CertificateFiles, tiny_gguf: Path,
                                                              tmp_path: Path) -> None:
    name = f"{basic_registry.host}/private/tiny:v1"
    source = packaged_store(tmp_path / "source", tiny_gguf, name)
    pushed = push(distribution_on(source.root, registry_user=USER, registry_password=PASSWORD,
                                  registry_ca_bundle=tls.certificate), name)
    assert pushed[-1]["type"] == "success", pushed

    config = _docker_config(tmp_path / "docker", basic_registry.host, USER, PASSWORD)
    target = distribution_on(tmp_path / "target", registry_ca_bundle=tls.certificate, docker_config_path=config)
    assert pull(target, name)[-1]["type"] == "success"
    assert target.store.find(name).id == source.find(name).id


def test_basic_auth_registry_refuses_anonymous_and_wrong_credentials(basic_registry: RegistryProcess,
                                                                    tls: CertificateFiles, tmp_path: Path) -> None:
    name = f"{basic_registry.host}/private/tiny:v1"
    anonymous = distribution_on(tmp_path / "anonymous", registry_ca_bundle=tls.certificate)
    with pytest.raises(AuthenticationFailed, match="authentication required"):
        pull(anonymous, name)
    wrong = distribution_on(tmp_path / "wrong", registry_ca_bundle=tls.certificate,
                            registry_user=USER, registry_password="not-it")
    with pytest.raises(AuthenticationFailed, match="authentication required"):
        pull(wrong, name)
    assert anonymous.store.list_models() == [] and wrong.store.list_models() == []


def test_an_untrusted_certificate_is_a_clear_error(basic_registry: RegistryProcess, tmp_path: Path) -> None:
    target = distribution_on(tmp_path / "target", registry_user=USER, registry_password=PASSWORD)
    with pytest.raises(RegistryUnavailable, match="(?i)certificate"):
        pull(target, f"{basic_registry.host}/private/tiny:v1")


def test_bearer_token_challenge_flow(token_registry: RegistryProcess, token_service: TokenService,
                                     tiny_gguf: Path, tmp_path: Path) -> None:
    name = f"{token_registry.host}/team/tiny:v2"
    source = packaged_store(tmp_path / "source", tiny_gguf, name)
    pushed = push(distribution_on(source.root, registry_user=USER, registry_password=PASSWORD), name)
    assert pushed[-1]["type"] == "success", pushed
    assert any("repository:team/tiny:pull,push" in r.scopes for r in token_service.requests)
    assert all(r.user == USER for r in token_service.requests)

    token_service.requests.clear()
    target = distribution_on(tmp_path / "target", registry_user=USER, registry_password=PASSWORD)
    assert pull(target, name)[-1]["type"] == "success"
    assert target.store.find(name).id == source.find(name).id
    assert [r.scopes for r in token_service.requests] == [["repository:team/tiny:pull"]]


def test_token_service_refusing_credentials_is_authentication_required(token_registry: RegistryProcess,
                                                                        tmp_path: Path) -> None:
    target = distribution_on(tmp_path / "target", registry_user=USER, registry_password="wrong")
    with pytest.raises(AuthenticationFailed, match="authentication required"):
        pull(target, f"{token_registry.host}/team/tiny:v2")
