"""Who may talk to the runner over HTTP: the Host and Origin checks, the CORS answers and the
cross-site rule the edge applies to every request.

A browser page can reach loopback: through DNS rebinding (a foreign `Host`), by calling the runner
from its own origin (a foreign `Origin`), or with a "simple" cross-site POST that needs no preflight
(`text/plain`, a form). Each is refused here, before any route runs.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from modelrunner.core.errors import PermissionDenied
from modelrunner.settings import Settings

Headers = dict[bytes, bytes]

DEFAULT_ORIGINS = (
    "http://localhost", "https://localhost", "http://localhost:*", "https://localhost:*",
    "http://127.0.0.1", "https://127.0.0.1", "http://127.0.0.1:*", "https://127.0.0.1:*",
    "http://[::1]", "https://[::1]", "http://[::1]:*", "https://[::1]:*",
    "app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*",
)
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Content types a browser sends cross-site without asking the server first (no CORS preflight).
SIMPLE_CONTENT_TYPES = frozenset({"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
BINARY_ROUTE_PREFIXES = ("/models/load", "/models/blobs/")
SAME_SITE_FETCHES = frozenset({b"", b"same-origin", b"none"})
ALLOWED_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
EXPOSED_HEADERS = b"request-id, x-request-id, retry-after, x-should-retry"
PREFLIGHT_MAX_AGE_S = b"600"


def host_name(host_header: str) -> str:
    """`[::1]:12434` -> `::1`, `LocalHost.:80` -> `localhost`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def origin_matches(origin: str, pattern: str) -> bool:
    """`*` is the only wildcard (`http://localhost:*`, `https://*.example.com`); `[::1]` is literal."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), origin) is not None


def _media_type(headers: Headers) -> str:
    return headers.get(b"content-type", b"").decode("latin-1").partition(";")[0].strip().lower()


@dataclass(frozen=True)
class TrustBoundary:
    """The runner's own names and the web origins allowed to call it (see README, Security)."""

    bind_host: str
    port: int
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    machine_name: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustBoundary:
        return cls(bind_host=settings.bind_host.lower(), port=settings.port, allowed_hosts=settings.allowed_hosts,
                   allowed_origins=settings.allowed_origins, machine_name=socket.gethostname().lower())

    def is_own_host(self, name: str) -> bool:
        """Loopback names and addresses, the bound address, this machine's name, and
        MODEL_RUNNER_ALLOWED_HOSTS. A name an attacker controls (DNS rebinding) is none of these."""
        if name == "localhost" or name.endswith(".localhost"):
            return True
        if name and name in (self.bind_host.strip("[]"), self.machine_name):
            return True
        address = _ip(name)
        if address is not None:
            bound = _ip(self.bind_host.strip("[]"))
            # An address literal cannot be rebound; on a wildcard bind every local address is the runner's.
            return address.is_loopback or (bound is not None and bound.is_unspecified)
        return any(entry == "*" or entry == name or (entry.startswith(".") and name.endswith(entry))
                   for entry in self.allowed_hosts)

    def is_allowed_origin(self, origin: str, headers: Headers) -> bool:
        origin = origin.strip().lower()
        if "*" in self.allowed_origins:
            return True
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        if host and origin in (f"http://{host}", f"https://{host}") and self.is_own_host(host_name(host)):
            return True  # the runner's own origin
        return any(origin_matches(origin, pattern) for pattern in (*DEFAULT_ORIGINS, *self.allowed_origins))

    def refusal(self, method: str, path: str, headers: Headers) -> PermissionDenied | None:
        """Why this request may not reach a route, or None."""
        raw_host = headers.get(b"host")
        if raw_host is not None and not self.is_own_host(host_name(raw_host.decode("latin-1"))):
            return PermissionDenied(
                f"host {raw_host.decode('latin-1')!r} is not one of this runner's names; if you reach the runner "
                "by that name, add it to MODEL_RUNNER_ALLOWED_HOSTS")
        origin = headers.get(b"origin")
        if origin is not None and not self.is_allowed_origin(origin.decode("latin-1"), headers):
            return PermissionDenied(
                f"origin {origin.decode('latin-1')!r} is not allowed to call this runner; to let that web page "
                "use it, add the origin to MODEL_RUNNER_ORIGINS")
        if method in STATE_CHANGING_METHODS and is_browser_request(headers) and not self._has_preflighted_type(
                path, headers):
            return PermissionDenied(
                f"a browser request to {method} {path} must send Content-Type: application/json (got "
                f"{_media_type(headers) or 'none'!r}): cross-site requests without a CORS preflight never change "
                "state; web pages of origins listed in MODEL_RUNNER_ORIGINS may send JSON")
        return None

    @staticmethod
    def _has_preflighted_type(path: str, headers: Headers) -> bool:
        media_type = _media_type(headers)
        if media_type == "application/json" or media_type.endswith("+json"):
            return True
        return path.startswith(BINARY_ROUTE_PREFIXES) and media_type not in SIMPLE_CONTENT_TYPES

    @staticmethod
    def is_preflight(method: str, headers: Headers) -> bool:
        return method == "OPTIONS" and b"origin" in headers and b"access-control-request-method" in headers

    def cors_headers(self, headers: Headers) -> list[tuple[bytes, bytes]]:
        """What an allowed origin's answer carries (nothing without an Origin, or for a refused one)."""
        origin = headers.get(b"origin")
        if origin is None or not self.is_allowed_origin(origin.decode("latin-1"), headers):
            return []
        return [(b"access-control-allow-origin", origin), (b"vary", b"Origin"),
                (b"access-control-expose-headers", EXPOSED_HEADERS)]

    @staticmethod
    def preflight_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
        """A preflight's answer for an allowed origin, beside `cors_headers`."""
        answer = [(b"access-control-allow-methods", ALLOWED_METHODS),
                  (b"access-control-max-age", PREFLIGHT_MAX_AGE_S)]
        requested = headers.get(b"access-control-request-headers")
        if requested:
            answer.append((b"access-control-allow-headers", requested))
        if headers.get(b"access-control-request-private-network", b"").lower() == b"true":
            answer.append((b"access-control-allow-private-network", b"true"))
        return answer


def is_browser_request(headers: Headers) -> bool:
    """A request a web page made: it names its origin, or the browser says it is not same-origin."""
    return b"origin" in headers or headers.get(b"sec-fetch-site", b"").lower() not in SAME_SITE_FETCHES


def is_cross_site(headers: Headers) -> bool:
    """A request from a page of another origin than the runner's own (allowed origins included)."""
    origin = headers.get(b"origin", b"").decode("latin-1").strip().lower()
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    if origin and origin not in (f"http://{host}", f"https://{host}"):
        return True
    return headers.get(b"sec-fetch-site", b"").lower() in (b"cross-site", b"same-site")
