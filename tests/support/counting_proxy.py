"""A reverse proxy in front of a real registry that counts the blob bytes it relays and can break
a download on purpose: cut a blob body short (a dropped connection), stall it midway (while a test
kills the puller), answer with a server error, or hold blob bodies back so that two pulls overlap."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import httpx

from tests.support.http_threads import relay_server
from tests.support.server import free_port

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}


@dataclass
class ProxyFaults:
    cut_digest: str | None = None
    cut_blob_after_bytes: int | None = None
    cut_count: int = 0
    fail_status: int | None = None
    fail_count: int = 0
    blob_delay_s: float = 0.0
    stall_digest: str | None = None
    stall_after_bytes: int | None = None


@dataclass
class ProxyRecord:
    blob_bytes: Counter[str] = field(default_factory=Counter)
    blob_requests: Counter[str] = field(default_factory=Counter)
    ranges: list[str] = field(default_factory=list)


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.faults = ProxyFaults()
        self.record = ProxyRecord()
        self._lock = threading.Lock()
        self.stalled = threading.Event()
        self._release = threading.Event()
        self._client = httpx.Client(timeout=30.0)
        self._server = relay_server(self.port, self._relay)

    def reset(self) -> None:
        with self._lock:
            self.faults = ProxyFaults()
            self.record = ProxyRecord()

    def _take_fault(self, is_blob_get: bool, path: str) -> tuple[int | None, int | None]:
        with self._lock:
            status = cut = None
            if is_blob_get and self.faults.fail_count > 0:
                self.faults.fail_count -= 1
                status = self.faults.fail_status
            elif is_blob_get and self.faults.cut_count > 0 and (self.faults.cut_digest or "") in path:
                self.faults.cut_count -= 1
                cut = self.faults.cut_blob_after_bytes
            return status, cut

    def _relay(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        is_blob_get = handler.command == "GET" and "/blobs/sha256:" in handler.path
        fail_status, cut_after = self._take_fault(is_blob_get, handler.path)
        if fail_status is not None:
            handler.send_response(fail_status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_HEADERS}
        if is_blob_get:
            with self._lock:
                self.record.blob_requests[handler.path] += 1
                if "range" in {k.lower() for k in headers}:
                    self.record.ranges.append(handler.headers["range"])
        request = self._client.build_request(handler.command, self.upstream + handler.path, headers=headers,
                                             content=body)
        response = self._client.send(request, stream=True)
        try:
            handler.send_response(response.status_code)
            for key, value in response.headers.multi_items():
                if key.lower() not in HOP_HEADERS:
                    handler.send_header(key, value)
            payload_length = response.headers.get("content-length")
            if payload_length is not None:
                handler.send_header("Content-Length", payload_length)
            handler.end_headers()
            if handler.command == "HEAD":
                return
            if is_blob_get and self.faults.blob_delay_s:
                time.sleep(self.faults.blob_delay_s)
            sent = 0
            for chunk in response.iter_raw(16 * 1024):
                if cut_after is not None and sent + len(chunk) > cut_after:
                    chunk = chunk[: cut_after - sent]
                handler.wfile.write(chunk)
                sent += len(chunk)
                if is_blob_get:
                    with self._lock:
                        self.record.blob_bytes[handler.path] += len(chunk)
                if self._should_stall(handler.path, sent):
                    self.stalled.set()
                    self._release.wait()
                    handler.close_connection = True
                    return
                if cut_after is not None and sent >= cut_after:
                    handler.wfile.flush()
                    handler.close_connection = True
                    handler.connection.shutdown(2)
                    return
        finally:
            response.close()

    def release(self) -> None:
        """Let a stalled blob body go on (its connection is then closed, as if the server went away)."""
        self._release.set()

    def _should_stall(self, path: str, sent: int) -> bool:
        """Hold a blob body after `stall_after_bytes` until the proxy closes (a server killed mid-pull)."""
        faults = self.faults
        return (faults.stall_digest is not None and faults.stall_digest in path
                and faults.stall_after_bytes is not None and sent >= faults.stall_after_bytes)

    def __enter__(self) -> CountingProxy:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.stop()
        self._client.close()
