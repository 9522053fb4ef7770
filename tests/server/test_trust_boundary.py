"""The runner attacked as a web page and a hostile local caller would: foreign Host (DNS rebinding)
and Origin on every API, simple cross-site POSTs, preflights, bad fields that once leaked generation
slots. Each refusal is checked in the envelope of the API whose route was called."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.archive import export_chunks
from modelrunner.store.packaging import PackageSpec, package_gguf
from tests.conftest import TINY_MODEL, make_tiny_store
from tests.support.http_threads import fixed_answer_server
from tests.support.server import RunningServer
from tests.support.tiny_model import N_EMBD, write_tiny_llama_gguf
from tests.support.tiny_vision import write_tiny_mmproj_gguf

ALLOWED_NAME = "models.lan.test"
VISION_MODEL = "ai/tiny-vision"
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


MAX_UPLOAD_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def readable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one directory the guarded runner may read for HTTP callers."""
    return tmp_path_factory.mktemp("package-dir")


@pytest.fixture(scope="module")
def guarded(tiny_gguf: Path, readable: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own (these tests try to change its store), one extra name allowed."""
    root = tmp_path_factory.mktemp("trust-store")
    store = make_tiny_store(root / "store", tiny_gguf)
    mmproj = write_tiny_mmproj_gguf(root / "mmproj.gguf", text_embedding_length=N_EMBD)
    package_gguf(store, PackageSpec(gguf_paths=[tiny_gguf], mmproj_path=mmproj), [parse_reference(VISION_MODEL)])
    env = {"MODEL_RUNNER_ALLOWED_HOSTS": ALLOWED_NAME, "MODEL_RUNNER_PARALLEL": "2",
           "MODEL_RUNNER_ALLOW_IMAGE_URLS": "1",
           "MODEL_RUNNER_PACKAGE_DIRS": str(readable), "MODEL_RUNNER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
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


def package(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/models/package", json={"tag": "evil/stolen:1", **body})


def test_by_default_http_callers_name_no_local_path(server: RunningServer, tiny_gguf: Path) -> None:
    refused = httpx.post(server.url + "/models/package", json={"gguf": str(tiny_gguf), "tag": "me/m:1"})
    assert_refused(refused, "openai", "MODEL_RUNNER_PACKAGE_DIRS", "upload")


@pytest.mark.parametrize("field", ["gguf", "licenses", "chat_template", "mmproj"])
def test_paths_outside_the_package_dirs_are_refused(http: httpx.Client, readable: Path, tiny_gguf: Path,
                                                    field: str) -> None:
    inside = readable / "model.gguf"
    if not inside.exists():
        inside.write_bytes(tiny_gguf.read_bytes())
    (readable / "passwd-link").unlink(missing_ok=True)
    (readable / "passwd-link").symlink_to("/etc/passwd")
    before = tags(http)
    for path, words in [("/etc/passwd", ["outside", "MODEL_RUNNER_PACKAGE_DIRS"]),
                        ("/proc/self/environ", ["outside"]),
                        (str(readable / "passwd-link"), ["outside", "symlinks"]),
                        (f"{readable}/../../../../etc/passwd", ["outside"]),
                        ("~/.ssh/id_rsa", ["not an absolute path", "`~`"]),
                        ("model.gguf", ["not an absolute path"])]:
        value: Any = [path] if field == "licenses" else path
        body = {"gguf": str(inside), field: value} if field != "gguf" else {"gguf": value}
        assert_refused(package(http, **body), "openai", *words)
    assert tags(http) == before


def test_only_regular_files_and_bounded_text_are_packaged(http: httpx.Client, readable: Path, tiny_gguf: Path) -> None:
    model = readable / "regular.gguf"
    model.write_bytes(tiny_gguf.read_bytes())
    fifo = readable / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    (readable / "big-license").write_text("x" * (1024 * 1024 + 1))
    (readable / "binary-license").write_bytes(b"\xff\xfe\x00binary")
    (readable / "not-gguf").write_text("hello")
    for body, words in [({"gguf": str(fifo)}, ["regular files"]),
                        ({"gguf": str(readable)}, ["regular files"]),
                        ({"licenses": [str(readable / "big-license")]}, ["larger than"]),
                        ({"licenses": [str(readable / "binary-license")]}, ["not UTF-8"]),
                        ({"chat_template": str(readable / "binary-license")}, ["not UTF-8"]),
                        ({"mmproj": str(readable / "not-gguf")}, ["not a readable GGUF"])]:
        response = package(http, **{"gguf": str(model), **body})
        assert response.status_code == 400, (body, response.text)
        for word in words:
            assert word in response.json()["error"]["message"]
    assert "evil/stolen:1" not in tags(http)
    packaged = package(http, gguf=str(model), tag="me/from-dir:1")
    assert packaged.status_code == 200 and b'"success"' in packaged.content


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_uploaded_blobs_are_verified_and_packaged_by_digest(http: httpx.Client, tiny_gguf: Path) -> None:
    data = tiny_gguf.read_bytes()
    license_text = b"Apache-2.0, for the test"
    wrong = http.post(f"/models/blobs/{digest_of(b'other')}", content=data,
                      headers={"content-type": "application/octet-stream"})
    assert wrong.status_code == 400 and "do not match" in wrong.json()["error"]["message"]
    assert http.head(f"/models/blobs/{digest_of(b'other')}").status_code == 404
    missing = package(http, gguf={"digest": digest_of(b"never sent"), "name": "x.gguf"})
    assert missing.status_code == 400 and "was not uploaded" in missing.json()["error"]["message"]
    for blob in (data, license_text):
        sent = http.post(f"/models/blobs/{digest_of(blob)}", content=blob,
                         headers={"content-type": "application/octet-stream"})
        assert sent.status_code == 201, sent.text
        assert http.head(f"/models/blobs/{digest_of(blob)}").status_code == 200
    packaged = package(http, tag="me/uploaded:1", gguf=[{"digest": digest_of(data), "name": "tiny.gguf"}],
                       licenses=[{"digest": digest_of(license_text), "name": "LICENSE"}])
    assert packaged.status_code == 200 and b'"success"' in packaged.content, packaged.text
    layers = http.get("/models/me/uploaded:1").json()
    assert "me/uploaded:1" in " ".join(layers["tags"])
    cross_site = http.post(f"/models/blobs/{digest_of(b'x')}", content=b"x",
                           headers={"content-type": "text/plain", "origin": "http://localhost:5173"})
    assert_refused(cross_site, "openai", "application/json")


@pytest.fixture(scope="module")
def other_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A different model than ai/tiny, exported as the tar `/models/load` takes."""
    folder = tmp_path_factory.mktemp("other-model")
    store = make_tiny_store(folder / "store", write_tiny_llama_gguf(folder / "other.gguf", seed=7))
    return b"".join(export_chunks(store, store.find(TINY_MODEL)))


def rewritten(archive: bytes, change: dict[str, bytes]) -> bytes:
    """`archive` with some members' bytes replaced (their manifest still describes the old ones)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar, tarfile.open(fileobj=out, mode="w") as new:
        for member in tar.getmembers():
            data = change.get(member.name, tar.extractfile(member).read())  # type: ignore[union-attr]
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    return out.getvalue()


def gguf_member(archive: bytes) -> str:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return max(tar.getmembers(), key=lambda member: member.size).name


def test_load_never_moves_a_tag_without_replace(http: httpx.Client, other_archive: bytes) -> None:
    original = http.get(f"/models/{TINY_MODEL}").json()["id"]
    refused = http.post("/models/load", content=other_archive, headers={"content-type": "application/x-tar"})
    assert refused.status_code == 409, refused.text
    assert "replace=true" in refused.json()["error"]["message"]
    cross_site = http.post("/models/load", params={"tag": "me/victim:1", "replace": "true"}, content=other_archive,
                           headers={"content-type": "application/x-tar", "origin": "http://localhost:5173"})
    assert_refused(cross_site, "openai", "replace")
    assert http.get(f"/models/{TINY_MODEL}").json()["id"] == original
    added = http.post("/models/load", params={"tag": "me/victim:1"}, content=other_archive)
    assert added.status_code == 200, added.text
    assert http.get("/models/me/victim:1").json()["id"] != original
    own_export = http.get(f"/models/{TINY_MODEL}/export").content
    kept = http.post("/models/load", params={"tag": "me/victim:1"}, content=own_export)
    assert kept.status_code == 409 and http.get("/models/me/victim:1").json()["id"] != original
    replaced = http.post("/models/load", params={"tag": "me/victim:1", "replace": "true"}, content=own_export)
    assert replaced.status_code == 200, replaced.text
    assert http.get("/models/me/victim:1").json()["id"] == original


def test_lying_and_oversized_archives_are_refused(http: httpx.Client, guarded: RunningServer,
                                                  other_archive: bytes) -> None:
    member = gguf_member(other_archive)
    before = tags(http)
    bigger = rewritten(other_archive, {member: b"\0" * (1024 * 1024)})
    larger = http.post("/models/load", params={"tag": "me/lie:1"}, content=bigger)
    assert larger.status_code == 400 and "descriptor" in larger.json()["error"]["message"], larger.text
    huge = http.post("/models/load", params={"tag": "me/huge:1"}, content=b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert huge.status_code == 413 and "MODEL_RUNNER_MAX_UPLOAD_BYTES" in huge.json()["error"]["message"]
    huge_blob = b"\0" * (MAX_UPLOAD_BYTES + 1)
    blob = http.post("/models/blobs/sha256:" + hashlib.sha256(huge_blob).hexdigest(), content=huge_blob,
                     headers={"content-type": "application/octet-stream"})
    assert blob.status_code == 413 and "MODEL_RUNNER_MAX_UPLOAD_BYTES" in blob.json()["error"]["message"]
    compressed = http.post("/models/load", params={"tag": "me/gz:1"}, content=gzip.compress(other_archive))
    assert compressed.status_code == 400 and "not a model archive" in compressed.json()["error"]["message"]
    assert tags(http) == before
    assert not list((guarded.store / "blobs" / "sha256").glob("*.incomplete"))


def openai_image(url: str) -> dict[str, Any]:
    return {**CHAT_BODY, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}]}


def anthropic_image(url: str) -> dict[str, Any]:
    return {**ANTHROPIC_BODY, "model": VISION_MODEL, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": url}}, {"type": "text", "text": "What is this?"}]}]}


@pytest.mark.parametrize("url", ["https://images.example/cat.png", "http://203.0.113.9/cat.png",
                                 "file:///etc/passwd", "ftp://files.example/cat.png"])
def test_by_default_image_urls_are_refused(server: RunningServer, url: str) -> None:
    response = httpx.post(server.url + "/v1/chat/completions", json=openai_image(url), timeout=60)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "base64" in message
    if url.startswith("http"):
        assert "MODEL_RUNNER_ALLOW_IMAGE_URLS" in message


@pytest.fixture(scope="module")
def loopback_picture_server() -> Iterator[tuple[int, list[str]]]:
    """A loopback HTTP server that records every request it gets: none must arrive."""
    with fixed_answer_server(b"\x89PNG", "image/png") as answering:
        yield answering


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.1.2.3", "10.0.0.1", "192.168.1.1",
                                  "169.254.169.254", "[::ffff:127.0.0.1]", "100.64.0.1", "0.0.0.0"])
def test_image_urls_to_private_addresses_are_never_fetched(http: httpx.Client,
                                                           loopback_picture_server: tuple[int, list[str]],
                                                           host: str) -> None:
    port, hits = loopback_picture_server
    url = f"http://{host}:{port}/secret.png"
    for path, body, envelope in [("/v1/chat/completions", openai_image(url), "openai"),
                                 ("/v1/messages", anthropic_image(url), "anthropic"),
                                 ("/v1/messages/count_tokens", anthropic_image(url), "anthropic")]:
        response = http.post(path, json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert "MODEL_RUNNER_IMAGE_URL_PRIVATE_HOSTS" in error["message"]
        assert error["type"] == "invalid_request_error"
    assert hits == []
