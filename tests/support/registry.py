"""A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution v2) on a free loopback
port with a temporary storage folder, optionally with TLS, htpasswd or token authentication."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import orjson

from tests.support.server import free_port

REGISTRY_BINARY = "/usr/bin/docker-registry"


def registry_available() -> bool:
    return shutil.which(REGISTRY_BINARY) is not None


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"
             for user, password in users.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class RegistryProcess:
    """`docker-registry serve CONFIG` on 127.0.0.1. `auth` is the registry's own `auth:` section."""

    def __init__(self, folder: Path, *, tls: tuple[Path, Path] | None = None,
                 auth: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://{self.host}"
        http: dict[str, Any] = {"addr": self.host, "secret": "test-secret"}
        if tls:
            http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(folder / "data")}, "delete": {"enabled": True}},
            "http": http,
        }
        if auth:
            config["auth"] = auth
        folder.mkdir(parents=True, exist_ok=True)
        self.config_path = folder / "config.yml"
        self.config_path.write_bytes(orjson.dumps(config))  # JSON is YAML
        self.log_path = folder / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ca_file: Path | None = None, timeout_s: float = 30.0) -> RegistryProcess:
        verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([REGISTRY_BINARY, "serve", str(self.config_path)],
                                        stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited:\n{self.log_path.read_text()}")
            try:
                httpx.get(f"{self.url}/v2/", verify=verify, timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def blob_file(self, repository: str, digest: str) -> Path:
        """Where the registry keeps a blob's bytes on disk (to tamper with it)."""
        hex_digest = digest.removeprefix("sha256:")
        return self.folder / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hex_digest[:2] / hex_digest / "data"

    def __enter__(self) -> RegistryProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
