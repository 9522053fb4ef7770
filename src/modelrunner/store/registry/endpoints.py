"""Where a registry name is reached: Docker Hub's API host, plain HTTP for loopback registries that do
not speak TLS, and configured mirrors tried before the registry itself."""

from __future__ import annotations

import ipaddress

from modelrunner.settings import Settings

DOCKER_HUB_API_HOST = "registry-1.docker.io"


def host_of(registry: str) -> str:
    """The host part of `host[:port]` (brackets of an IPv6 literal removed)."""
    if registry.startswith("["):
        return registry[1:registry.index("]")]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_loopback(registry: str) -> bool:
    host = host_of(registry)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_host(registry: str) -> str:
    return DOCKER_HUB_API_HOST if registry == "docker.io" else registry


def candidate_base_urls(settings: Settings, registry: str) -> list[str]:
    """Base URLs to try for a pull, in order: mirrors first, then the registry itself.

    A loopback registry is listed as https then http, as Docker does for insecure registries: TLS
    when the registry speaks it, plain HTTP otherwise.
    """
    urls = list(settings.registry_mirrors.get(registry, ()))
    host = api_host(registry)
    if is_loopback(registry):
        urls += [f"https://{host}", f"http://{host}"]
    else:
        urls.append(f"https://{host}")
    return urls
