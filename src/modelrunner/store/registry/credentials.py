"""Registry credentials the way Docker finds them: explicit settings first, then the `auths` section
of `~/.docker/config.json` (credential helpers are not consulted)."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from pathlib import Path

import orjson

from modelrunner.settings import Settings

logger = logging.getLogger(__name__)

DOCKER_HUB_CONFIG_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    @property
    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def _config_keys(registry: str) -> tuple[str, ...]:
    if registry == "docker.io":
        return DOCKER_HUB_CONFIG_KEYS
    return (registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/", f"https://{registry}/v2/")


def _from_entry(entry: dict[str, object]) -> Credentials | None:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return Credentials(username, password) if username else None
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str) and username:
        return Credentials(username, password)
    return None


def docker_config_credentials(config_path: Path, registry: str) -> Credentials | None:
    """Credentials stored by `docker login` for `registry`, or None. Blocking (reads a file)."""
    try:
        document = orjson.loads(config_path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable Docker config %s: %s", config_path, exc)
        return None
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return None
    for key in _config_keys(registry):
        entry = auths.get(key)
        if isinstance(entry, dict) and (credentials := _from_entry(entry)) is not None:
            return credentials
    return None


def find_credentials(settings: Settings, registry: str) -> Credentials | None:
    """MODEL_RUNNER_REGISTRY_USER/PASSWORD when set, else Docker's config. Blocking (reads a file)."""
    if settings.registry_user and settings.registry_password is not None:
        return Credentials(settings.registry_user, settings.registry_password)
    return docker_config_credentials(settings.docker_config_path, registry)
