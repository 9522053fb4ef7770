"""`modelrunner upstream` against a runner fronting llama.cpp servers, and `modelrunner context` reaching
a runner over TLS with an API key from a named environment variable."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelrunner.store.store import ModelStore
from tests.cli.conftest import Cli, cli_env
from tests.conftest import make_tiny_store
from tests.support.certificates import CertificateFiles, make_self_signed
from tests.support.server import free_port
from tests.support.upstream_fixtures import Fleet, fleet, llamacpp_replicas, peer_runner  # noqa: F401

TLS_KEY = "tls-runner-key-81d2"


def test_upstream_add_ls_rm(fleet: Fleet) -> None:  # noqa: F811
    cli = Cli(cli_env(fleet.front.url))
    added = cli.json("upstream", "add", "cli/tiny", "--url", fleet.replicas[0].url, "--url", fleet.replicas[1].url,
                     "--max-concurrency", "2", "--json")
    assert added["name"] == "cli/tiny" and [r["url"] for r in added["replicas"]] == [r.url for r in fleet.replicas]
    listed = {item["name"]: item for item in cli.json("upstream", "ls", "--json")}
    assert listed["cli/tiny"]["max_concurrency"] == 2
    assert "cli/tiny" in cli.ok("upstream", "ls").stdout
    assert cli.ok("upstream", "rm", "cli/tiny").stdout == "Removed cli/tiny\n"
    assert "cli/tiny" not in [item["name"] for item in cli.json("upstream", "ls", "--json")]
    dead = f"http://127.0.0.1:{free_port()}/v1"
    refused = cli("upstream", "add", "cli/dead", "--url", dead)
    assert refused.returncode == 1 and "unreachable" in refused.stderr and dead in refused.stderr


@pytest.fixture(scope="module")
def tls_runner(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, CertificateFiles]]:
    root = tmp_path_factory.mktemp("tls-runner")
    store: ModelStore = make_tiny_store(root / "store", tiny_gguf)
    certificate = make_self_signed(root / "tls")
    port = free_port()
    env = {**os.environ, "MODELS_PATH": str(store.root), "MODEL_RUNNER_PORT": str(port), "MODEL_RUNNER_THREADS": "1",
           "MODEL_RUNNER_NO_DEFAULT_MODEL": "1", "MODEL_RUNNER_API_KEY": TLS_KEY}
    with (root / "server.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "modelrunner", "serve", "--tls-cert",
                                    str(certificate.certificate), "--tls-key", str(certificate.key)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(certificate.certificate))
    try:
        for _ in range(600):
            assert process.poll() is None, (root / "server.log").read_text()
            try:
                if httpx.get(url + "/", verify=trusted, headers={"x-api-key": TLS_KEY}).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, certificate
    finally:
        process.terminate()
        process.wait(30)


def test_a_context_reaches_a_tls_runner_with_its_key(tls_runner: tuple[str, CertificateFiles], tmp_path: Path) -> None:
    url, certificate = tls_runner
    env = {key: value for key, value in cli_env(url).items() if key != "MODEL_RUNNER_HOST"}
    cli = Cli({**env, "MODEL_RUNNER_CONFIG_DIR": str(tmp_path / "config"), "GPU_BOX_KEY": TLS_KEY})
    cli.ok("context", "create", "gpu-box", "--host", url, "--api-key-env", "GPU_BOX_KEY",
           "--ca-cert", str(certificate.certificate), "--description", "the GPU box")
    cli.ok("context", "use", "gpu-box")
    contexts = {entry["name"]: entry for entry in cli.json("context", "ls", "--json")}
    assert contexts["gpu-box"]["current"] and not contexts["default"]["current"]
    assert "ai/tiny:latest" in [tag for model in cli.json("list", "--json") for tag in model["tags"]]
    inspected = cli.json("context", "inspect", "gpu-box")
    assert inspected["host"] == url and inspected["api_key_env"] == "GPU_BOX_KEY"
    assert TLS_KEY not in (tmp_path / "config" / "contexts.json").read_text()
    dead = Cli({**cli.env, "MODEL_RUNNER_HOST": f"http://127.0.0.1:{free_port()}"})("list")
    assert dead.returncode == 1  # MODEL_RUNNER_HOST wins over the context in use
    without_key = Cli({**cli.env, "GPU_BOX_KEY": "wrong"})("list")
    assert without_key.returncode == 1 and "api-key" in without_key.stderr
    assert cli("context", "create", "gpu-box", "--host", url).returncode == 1
    assert cli("context", "create", "other", "--host", "ftp://gpu-box").returncode == 1
    cli.ok("context", "rm", "gpu-box")
    assert cli.json("context", "inspect")["name"] == "default"


def test_serve_refuses_half_a_tls_configuration(tmp_path: Path) -> None:
    certificate = make_self_signed(tmp_path)
    result = Cli(cli_env("http://127.0.0.1:1"))("serve", "--tls-cert", str(certificate.certificate))
    assert result.returncode == 2 and "--tls-cert and --tls-key go together" in result.stderr
