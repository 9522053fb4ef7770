"""The runner's REST API seen from the command line: every failure becomes one error with a readable line."""

from __future__ import annotations

import contextlib
import json
import ssl
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

# httpx imports its own command line (click, rich, pygments) when it is imported, unless that import fails;
# this command never uses it, and skipping it saves about 60 ms on every invocation.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx  # noqa: E402

from modelrunner.core import errors  # noqa: E402

CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 60.0
UPLOAD_CHUNK_BYTES = 1024 * 1024

_ERRORS_BY_STATUS: dict[int, type[errors.ModelRunnerError]] = {
    400: errors.InvalidRequest,
    401: errors.AuthenticationFailed,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.RequestTooLarge,
    422: errors.UnsupportedArtifact,
    429: errors.Overloaded,
    503: errors.Overloaded,
}


def _error_message(body: Any) -> str | None:
    """Pull the message out of any of the envelopes the runner speaks (OpenAI, Anthropic, Ollama, DMR)."""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str) and inner:
            return inner
        if body.get("message"):
            return str(body["message"])
    return None


def error_from_response(method: str, path: str, status: int, content: bytes) -> errors.ModelRunnerError:
    try:
        body: Any = json.loads(content) if content else None
    except ValueError:
        body = None
    message = _error_message(body) or content.decode(errors="replace").strip() or f"HTTP {status}"
    if status == 405 or (status == 404 and message.startswith("no route ")):
        return errors.RouteUnavailable(f"this runner does not offer {method} {path} (a newer modelrunner does)")
    return _ERRORS_BY_STATUS.get(status, errors.ModelRunnerError)(message)


def _sse_payloads(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if data:
            yield json.loads(data)


class RunnerClient:
    """A thin synchronous client of one runner. Methods return decoded JSON or raise `ModelRunnerError`."""

    def __init__(self, base_url: str, *, api_key: str | None = None, ca_cert: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.ca_cert = ca_cert
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            # loading CA certificates costs ~60 ms; plain HTTP needs none; a context may name its own CA
            verify=ssl.create_default_context(cafile=ca_cert) if ca_cert else self.base_url.startswith("https:"),
        )

    def copy(self) -> RunnerClient:
        """A client of the same runner with its own connections, for another thread."""
        return RunnerClient(self.base_url, api_key=self.api_key, ca_cert=self.ca_cert)

    def close(self) -> None:
        self._http.close()

    def is_running(self) -> bool:
        """Whether anything answers HTTP there; a refusal (a wrong API key) is reported by the next call."""
        try:
            self._http.get("/", timeout=2.0)
        except httpx.HTTPError:
            return False
        return True

    def _unreachable(self, exc: httpx.HTTPError) -> errors.RunnerUnreachable:
        return errors.RunnerUnreachable(f"cannot reach the runner at {self.base_url} ({type(exc).__name__})")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise errors.RunnerUnreachable(f"the runner at {self.base_url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise error_from_response(method, path, response.status_code, response.content)
        return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_present(params)).json()

    def get_text(self, path: str, **params: Any) -> str:
        return self.request("GET", path, params=_present(params)).text

    def post_json(self, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                  **params: Any) -> Any:
        response = self.request("POST", path, json=body, params=_present(params), headers=headers,
                                timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S))
        return response.json() if response.content else None

    def delete_json(self, path: str, **params: Any) -> Any:
        response = self.request("DELETE", path, params=_present(params))
        return response.json() if response.content else None

    def has_blob(self, digest: str) -> bool:
        try:
            self.request("HEAD", f"/models/blobs/{digest}")
        except errors.NotFound:
            return False
        return True

    def upload_blob(self, digest: str, file: Path) -> None:
        """Stream a local file to the runner as the blob `digest` (the runner checks the digest)."""
        def chunks() -> Iterator[bytes]:
            with file.open("rb") as handle:
                while chunk := handle.read(UPLOAD_CHUNK_BYTES):
                    yield chunk

        self.request("POST", f"/models/blobs/{digest}", content=chunks(),
                     headers={"content-type": "application/octet-stream", "content-length": str(file.stat().st_size)},
                     timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S))

    @contextlib.contextmanager
    def _open_stream(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                     **params: Any) -> Iterator[Iterator[str]]:
        """The lines of a streamed answer, as they arrive, with no read timeout; HTTP errors raised."""
        request = self._http.build_request(method, path, json=body, params=_present(params), headers=headers,
                                           timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S))
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        try:
            if response.status_code >= 400:
                raise error_from_response(method, path, response.status_code, response.read())
            try:
                yield response.iter_lines()
            except httpx.HTTPError as exc:
                raise errors.RunnerUnreachable(f"the runner closed the stream ({type(exc).__name__})") from exc
        finally:
            response.close()

    def stream_lines(self, method: str, path: str, body: Any = None, **params: Any) -> Generator[str, None, None]:
        """Lines of a streamed answer (JSON lines, SSE, logs), as they arrive; no read timeout."""
        with self._open_stream(method, path, body, **params) as lines:
            yield from lines

    def stream_events(self, path: str, **params: Any) -> Generator[dict[str, Any] | None, None, None]:
        """A Server-Sent Events feed: each event's JSON data, and None for each comment (the feed is alive)."""
        with self._open_stream("GET", path, headers={"accept": "text/event-stream"}, **params) as lines:
            for line in lines:
                if line.startswith(":"):
                    yield None
                elif line.startswith("data:"):
                    yield json.loads(line[5:])

    def stream_json_lines(self, method: str, path: str, body: Any = None,
                          **params: Any) -> Generator[dict[str, Any], None, None]:
        for line in self.stream_lines(method, path, body, **params):
            if line.strip():
                yield json.loads(line)

    def stream_chat(self, body: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """Chunks of a streamed OpenAI chat completion; an error event in the stream is raised."""
        for payload in _sse_payloads(self.stream_lines("POST", "/engines/v1/chat/completions",
                                                       {**body, "stream": True})):
            if "error" in payload:
                raise errors.EngineFailed(_error_message(payload) or "the runner failed while answering")
            yield payload


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def chunk_text(chunk: dict[str, Any]) -> str:
    """The answer text carried by one OpenAI chat chunk (empty for role, usage and finish chunks)."""
    return "".join((choice.get("delta") or {}).get("content") or "" for choice in chunk.get("choices") or ())
