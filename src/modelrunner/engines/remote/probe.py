"""Checking a base URL before it is registered, and learning what kind of server it is: reachable,
speaking the OpenAI API (`GET /models` lists models), serving the wanted model, and whether it can
tokenise a conversation (llama.cpp's server, vLLM, another modelrunner)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import orjson

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.remote.upstream import UpstreamKind

MAX_URL_CHARS = 2048
_API_SUFFIX = re.compile(r"(/engines(/[^/]+)?)?/v1$")


@dataclass(frozen=True)
class ReplicaProbe:
    """What one URL answered: the models it serves and its kind, or why it cannot be used."""

    url: str
    models: tuple[str, ...] = ()
    kind: UpstreamKind = "unknown"
    error: str | None = None

    @property
    def is_reachable(self) -> bool:
        return self.error is None


def normalise_url(url: str) -> str:
    """A base URL as given to the `openai` SDK, without its trailing slash; anything else is refused."""
    text = url.strip().rstrip("/") if isinstance(url, str) else ""
    parts = urlsplit(text)
    if not text or len(text) > MAX_URL_CHARS or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidRequest(f"urls: {url!r} is not an http(s) base URL such as http://10.0.0.5:8000/v1",
                             param="urls")
    return text


def server_root(url: str) -> str:
    """The server's own root, where llama.cpp (`/props`, `/tokenize`), vLLM (`/version`, `/tokenize`)
    and modelrunner (`/engines/status`) keep their non-OpenAI routes."""
    return _API_SUFFIX.sub("", url)


async def _json(client: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> object | None:
    try:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


async def discover_kind(client: httpx.AsyncClient, url: str) -> UpstreamKind:
    root = server_root(url)
    status = await _json(client, "GET", root + "/engines/status")
    if isinstance(status, dict) and any(isinstance(v, str) and v.startswith("Running") for v in status.values()):
        return "modelrunner"
    props = await _json(client, "GET", root + "/props")
    if isinstance(props, dict) and ("default_generation_settings" in props or "chat_template" in props):
        return "llama.cpp"
    version = await _json(client, "GET", root + "/version")
    if isinstance(version, dict) and "version" in version:
        return "vllm"
    return "openai"


async def list_served_models(client: httpx.AsyncClient, url: str) -> tuple[str, ...]:
    """The model IDs `GET {url}/models` lists; raises ValueError saying why the URL cannot be used."""
    try:
        response = await client.get(url + "/models")
    except httpx.TimeoutException:
        raise ValueError("unreachable: no answer in time") from None
    except httpx.HTTPError as exc:
        raise ValueError(f"unreachable: {type(exc).__name__}: {exc or 'connection failed'}") from None
    if response.status_code in (401, 403):
        raise ValueError(f"refused our credentials (HTTP {response.status_code}); check api_key_env")
    if response.status_code != 200:
        raise ValueError(f"not an OpenAI-compatible server: GET /models answered HTTP {response.status_code}")
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ValueError("not an OpenAI-compatible server: GET /models did not answer JSON") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise ValueError("not an OpenAI-compatible server: GET /models has no model list (`data`)")
    return tuple(str(item["id"]) for item in data if isinstance(item, dict) and item.get("id"))


async def probe_replica(client: httpx.AsyncClient, url: str) -> ReplicaProbe:
    try:
        models = await list_served_models(client, url)
    except ValueError as exc:
        return ReplicaProbe(url=url, error=str(exc))
    return ReplicaProbe(url=url, models=models, kind=await discover_kind(client, url))
