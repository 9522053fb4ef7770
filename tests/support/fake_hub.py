"""FakeHub: a stand-in for huggingface.co (unreachable from tests) serving the two endpoints
`huggingface_hub` uses to pull files: the repository tree listing and `resolve` downloads, with the
Hub's headers (`X-Repo-Commit`, `X-Linked-Etag`, `X-Error-Code`) and optional token-gated repositories.
Downloads honour `Range`; `cut_after_bytes` drops the connection partway through the next downloads of a
file, as a network failure would."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlparse

from tests.support.http_threads import ThreadedHTTPServer
from tests.support.server import free_port

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


@dataclass
class FakeRepo:
    files: dict[str, Path]
    token: str | None = None


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    downloads: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    # file name -> bytes after which its next downloads stop (the connection closes), until `cut_count` runs out
    cut_after_bytes: dict[str, int] = field(default_factory=dict)
    cut_count: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, handler: BaseHTTPRequestHandler, send_body: bool) -> None:
        path = unquote(urlparse(handler.path).path)
        authorization = handler.headers.get("Authorization")
        self.authorizations.append(authorization)
        tree, resolve = _TREE.match(path), _RESOLVE.match(path)
        repo_id = (tree or resolve).group(1) if (tree or resolve) else None
        repo = self.repos.get(repo_id or "")
        if repo is None:
            return self._error(handler, 404, "RepoNotFound", "Repository not found")
        if repo.token is not None and authorization != f"Bearer {repo.token}":
            return self._error(handler, 401, "GatedRepo", "Access to this repository is restricted")
        if tree:
            listing = [{"type": "file", "path": name, "size": file.stat().st_size, "oid": hashlib.sha1(name.encode()).hexdigest()}
                       for name, file in sorted(repo.files.items())]
            return self._send(handler, 200, json.dumps(listing).encode(), {"Content-Type": "application/json"}, send_body)
        assert resolve is not None
        name = resolve.group(3)
        file = repo.files.get(name)
        if file is None:
            return self._error(handler, 404, "EntryNotFound", "Entry not found")
        data = file.read_bytes()
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                   "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if not send_body:
            return self._send(handler, 200, data, headers, send_body)
        self.downloads.append(f"{repo_id}/{name}")
        status, start = 200, 0
        asked = handler.headers.get("Range")
        if asked:
            self.ranges.append(f"{name} {asked}")
            start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))  # type: ignore[union-attr]
            status, headers["Content-Range"] = 206, f"bytes {start}-{len(data) - 1}/{len(data)}"
        cut = self.cut_after_bytes.get(name)
        if cut is not None and self.cut_count > 0:
            self.cut_count -= 1
            return self._send_cut(handler, status, data[start:], headers, cut - start)
        self._send(handler, status, data[start:], headers, send_body)

    @staticmethod
    def _send_cut(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str],
                  sent_bytes: int) -> None:
        """Announce the whole body, send its first `sent_bytes`, then drop the connection."""
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:max(sent_bytes, 0)])
        handler.wfile.flush()
        handler.close_connection = True

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str], send_body: bool) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if send_body:
            handler.wfile.write(body)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(handler, status, body, {"X-Error-Code": code, "X-Error-Message": message,
                                           "Content-Type": "application/json"}, handler.command != "HEAD")

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                hub._handle(self, send_body=True)

            def do_HEAD(self) -> None:
                hub._handle(self, send_body=False)

        self._server = ThreadedHTTPServer(self.port, Handler)
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
