"""Small HTTP servers for the named fakes tests run beside real components (the Hub, a token
service, a counting proxy): one loopback server on a daemon thread, stopped on exit."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.server import free_port


class ThreadedHTTPServer:
    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def relay_server(port: int, relay: Callable[[BaseHTTPRequestHandler], None]) -> ThreadedHTTPServer:
    """A server that hands every request, whatever its method, to `relay` (the proxies' shape)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            relay(self)

        do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    return ThreadedHTTPServer(port, Handler)


@contextlib.contextmanager
def fixed_answer_server(body: bytes, content_type: str) -> Iterator[tuple[int, list[str]]]:
    """A loopback server answering every GET with `body`: yields its port and the paths it was asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadedHTTPServer(port, Handler)
    server.start()
    try:
        yield port, asked
    finally:
        server.stop()
