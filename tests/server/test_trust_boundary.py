"""The runner attacked as a web page and a hostile local caller would: foreign Host (DNS rebinding)
and Origin on every API, simple cross-site POSTs, preflights, bad fields that once leaked generation
slots. Each refusal is checked in the envelope of the API whose route was called."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.server import RunningServer

ALLOWED_NAME = "models.lan.test"
CHAT_BODY = {"model": TINY_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
ANTHROPIC_BODY = {"model": TINY_MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
OLLAMA_BODY = {"model": TINY_MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False,
               "options": {"num_predict": 2}}

# (method, path, JSON body, envelope) for GET and POST routes of every API and the management routes.
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/models", None, "openai"),
    ("GET", "/engines/v1/models", None, "openai"),
    ("POST", "/v1/chat/completions", CHAT_BODY, "openai"),
    ("POST", "/engines/v1/completions", {"model": TINY_MODEL, "prompt": "hi", "max_tokens": 2}, "openai"),
    ("GET", "/anthropic/v1/models", None, "anthropic"),
    ("POST", "/v1/messages", ANTHROPIC_BODY, "anthropic"),
    ("POST", "/anthropic/v1/messages/count_tokens", ANTHROPIC_BODY, "anthropic"),
    ("GET", "/api/tags", None, "ollama"),
    ("GET", "/api/ps", None, "ollama"),
    ("POST", "/api/chat", OLLAMA_BODY, "ollama"),
    ("POST", "/api/generate", {"model": TINY_MODEL, "prompt": "hi", "stream": False}, "ollama"),
    ("POST", "/api/show", {"model": TINY_MODEL}, "ollama"),
    ("GET", "/models", None, "openai"),
    ("GET", "/engines/ps", None, "openai"),
    ("GET", "/logs", None, "openai"),
    ("POST", "/models/create", {"from": "localhost:1/ai/nothing"}, "openai"),
    ("POST", f"/models/{TINY_MODEL}/tag?repo=evil/replaced", None, "openai"),
    ("POST", "/engines/unload", {"models": [TINY_MODEL]}, "openai"),
    ("POST", "/models/package", {"gguf": "/etc/passwd", "tag": "evil/m:1"}, "openai"),
    ("POST", f"/models/load?tag={TINY_MODEL}", None, "openai"),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _, _ in ROUTES]


@pytest.fixture(scope="module")
def guarded(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own (these tests try to change its store), one extra name allowed."""
    store = make_tiny_store(tmp_path_factory.mktemp("trust-store"), tiny_gguf)
    env = {"MODEL_RUNNER_ALLOWED_HOSTS": ALLOWED_NAME, "MODEL_RUNNER_PARALLEL": "2"}
    with RunningServer(store.root, tmp_path_factory.mktemp("logs") / "trust.log", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def http(guarded: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded.url, timeout=60) as client:
        yield client


def assert_refused(response: httpx.Response, envelope: str, *words: str) -> None:
    """403 in the route's own API envelope, with a message naming what would allow it."""
    assert response.status_code == 403, response.text
    body = response.json()
    if envelope == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "permission_error"
        message = body["error"]["message"]
    elif envelope == "openai":
        assert body["error"]["type"] == "permission_error"
        message = body["error"]["message"]
    else:
        message = body["error"]
        assert isinstance(message, str)
    for word in words:
        assert word in message
    if response.request.headers.get("origin") != "http://localhost:5173":  # an allowed page may read why
        assert "access-control-allow-origin" not in response.headers


def send(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None, **headers: str) -> httpx.Response:
    return http.request(method, path, json=body, headers=headers)


def tags(http: httpx.Client) -> list[str]:
    return [tag for model in http.get("/models").json() for tag in model["tags"]]


@pytest.mark.parametrize(("method", "path", "body", "envelope"), ROUTES, ids=ROUTE_IDS)
def test_a_foreign_host_is_refused_on_every_route(http: httpx.Client, method: str, path: str,
                                                  body: dict[str, Any] | None, envelope: str) -> None:
    """DNS rebinding: the page's own name resolves to 127.0.0.1, so only the Host header tells."""
    response = send(http, method, path, body, host=f"attacker.example:{http.base_url.port}")
    assert_refused(response, envelope, "attacker.example", "MODEL_RUNNER_ALLOWED_HOSTS")


@pytest.mark.parametrize(("method", "path", "body", "envelope"), ROUTES, ids=ROUTE_IDS)
def test_a_foreign_origin_is_refused_on_every_route(http: httpx.Client, method: str, path: str,
                                                    body: dict[str, Any] | None, envelope: str) -> None:
    response = send(http, method, path, body, origin="https://attacker.example")
    assert_refused(response, envelope, "https://attacker.example", "MODEL_RUNNER_ORIGINS")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/api/chat", "/models/create",
                                  "/engines/unload", "/models/package", f"/models/{TINY_MODEL}/tag?repo=evil/x",
                                  f"/models/load?tag={TINY_MODEL}", "/engines/_configure"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
@pytest.mark.parametrize("site", [{"origin": "http://localhost:5173"}, {"sec-fetch-site": "cross-site"},
                                  {"origin": "null", "sec-fetch-site": "cross-site"}])
def test_simple_cross_site_posts_never_change_state(http: httpx.Client, path: str, content_type: str | None,
                                                    site: dict[str, str]) -> None:
    """What a page can send without a preflight (even from an allowed origin) is refused."""
    headers = {**site, **({"content-type": content_type} if content_type else {})}
    before = tags(http)
    response = http.post(path, content=b'{"model": "ai/tiny", "from": "x"}', headers=headers)
    envelope = "anthropic" if path.endswith("/messages") else "ollama" if path.startswith("/api/") else "openai"
    if site.get("origin") == "null":
        assert_refused(response, envelope, "MODEL_RUNNER_ORIGINS")
    else:
        assert_refused(response, envelope, "application/json")
    assert tags(http) == before


def test_curl_with_its_default_form_content_type_still_works(http: httpx.Client) -> None:
    """`curl -d '{...}'` sends application/x-www-form-urlencoded, no Origin, no Sec-Fetch headers."""
    response = http.post("/api/show", content=b'{"model": "ai/tiny"}',
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    chat = http.post("/v1/chat/completions", content=httpx.Request("POST", "/", json=CHAT_BODY).content,
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert chat.status_code == 200, chat.text


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "[::1]", "app.localhost", ALLOWED_NAME,
                                  "LOCALHOST."])
def test_the_runners_own_names_are_served(http: httpx.Client, host: str) -> None:
    response = http.get("/v1/models", headers={"host": f"{host}:{http.base_url.port}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("origin", ["http://localhost:5173", "https://127.0.0.1", "http://[::1]:8080",
                                    "app://obsidian.md", "file://", "vscode-webview://abc123", "tauri://localhost"])
def test_allowed_origins_get_cors_answers(http: httpx.Client, origin: str) -> None:
    preflight = http.options("/v1/messages", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-api-key, anthropic-version"})
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-api-key" in preflight.headers["access-control-allow-headers"]
    response = http.post("/v1/messages", json=ANTHROPIC_BODY, headers={"origin": origin})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert "request-id" in response.headers["access-control-expose-headers"]


def test_the_runners_own_origin_is_allowed(http: httpx.Client) -> None:
    own = f"http://127.0.0.1:{http.base_url.port}"
    response = http.get("/api/tags", headers={"origin": own, "sec-fetch-site": "same-origin"})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == own


@pytest.mark.parametrize("origin", ["https://attacker.example", "http://localhost.attacker.example",
                                    "http://127.0.0.1.nip.io:12434", "null"])
def test_preflights_from_other_origins_are_refused(http: httpx.Client, origin: str) -> None:
    refused = http.options("/v1/chat/completions", headers={
        "origin": origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type"})
    assert_refused(refused, "openai", "MODEL_RUNNER_ORIGINS")


def test_an_origin_setting_opens_the_runner_to_that_page(tiny_store: Any, tmp_path: Path) -> None:
    env = {"MODEL_RUNNER_ORIGINS": "https://notebook.example,https://*.tools.example"}
    with RunningServer(tiny_store.root, tmp_path / "origins.log", env=env) as running:
        for origin in ("https://notebook.example", "https://chat.tools.example"):
            response = httpx.get(running.url + "/v1/models", headers={"origin": origin})
            assert response.status_code == 200 and response.headers["access-control-allow-origin"] == origin
        assert_refused(httpx.get(running.url + "/v1/models", headers={"origin": "https://other.example"}),
                       "openai", "MODEL_RUNNER_ORIGINS")


INVALID_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/chat/completions", {**CHAT_BODY, "keep_alive": "forever"}),
    ("/engines/v1/completions", {"model": TINY_MODEL, "prompt": "hi", "keep_alive": "5 minutes"}),
    ("/v1/chat/completions", {**CHAT_BODY, "stream": True, "keep_alive": "-x"}),
    ("/api/chat", {**OLLAMA_BODY, "keep_alive": "soon"}),
    ("/api/generate", {"model": TINY_MODEL, "prompt": "hi", "stream": False, "keep_alive": "1d"}),
    ("/api/generate", {"model": TINY_MODEL, "prompt": "", "keep_alive": "later"}),
    ("/api/chat", {**OLLAMA_BODY, "stream": True, "keep_alive": "5mm"}),
    ("/v1/chat/completions", {**CHAT_BODY, "temperature": "hot"}),
    ("/v1/messages", {**ANTHROPIC_BODY, "max_tokens": 0}),
    ("/v1/messages", {**ANTHROPIC_BODY, "stream": True, "messages": []}),
]


def test_a_thousand_invalid_requests_leave_no_slot_taken(http: httpx.Client) -> None:
    assert http.post("/v1/chat/completions", json=CHAT_BODY).status_code == 200  # loaded, 2 slots
    statuses = set()
    for number in range(1000):
        path, body = INVALID_REQUESTS[number % len(INVALID_REQUESTS)]
        response = http.post(path, json=body)
        statuses.add(response.status_code)
        assert 400 <= response.status_code < 500, (path, body, response.text)
    assert statuses == {400}
    runners = http.get("/engines/ps").json()
    assert len(runners) == 1, runners
    assert (runners[0]["active_requests"], runners[0]["queued_requests"], runners[0]["in_use"]) == (0, 0, False)
    served = http.post("/v1/chat/completions", json=CHAT_BODY)
    assert served.status_code == 200 and served.json()["usage"]["completion_tokens"] >= 1
