"""A blocking GET of one blob body, on the standard library's `http.client`, for worker threads.

Blob bodies are the one place where bytes per CPU-second matter: `readinto` fills a caller's buffer
in C, where an httpx stream costs a Python round trip per 64 KB. On a busy two-core machine that is
the difference between half of curl's rate and curl's rate. Everything else about a registry (auth,
retries, manifests, uploads) stays on httpx in `client.py`.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


def _connection(url: str, ssl_context: ssl.SSLContext, timeout_s: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout_s, context=ssl_context), target
    return http.client.HTTPConnection(parts.netloc, timeout=timeout_s), target


@contextlib.contextmanager
def open_blob(url: str, headers: dict[str, str], ssl_context: ssl.SSLContext,
              timeout_s: float = 60.0) -> Iterator[http.client.HTTPResponse]:
    """GET `url`, following redirects (Docker Hub sends blobs to a CDN; the Authorization header is
    not carried to another host). Network failures raise OSError or http.client.HTTPException."""
    origin = urlsplit(url).netloc
    for _ in range(MAX_REDIRECTS + 1):
        connection, target = _connection(url, ssl_context, timeout_s)
        same_host = urlsplit(url).netloc == origin
        sent = {k: v for k, v in headers.items() if same_host or k.lower() != "authorization"}
        try:
            connection.request("GET", target, headers=sent)
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                response.read()
                url = urljoin(url, location)
                continue
            yield response
            return
        finally:
            connection.close()
    raise http.client.HTTPException(f"more than {MAX_REDIRECTS} redirects fetching a blob")
