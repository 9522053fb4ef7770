"""An HTTP client for one repository of one OCI registry (distribution v2 API).

It owns what every registry call needs: picking a base URL (mirrors, TLS or plain HTTP on loopback),
authentication (anonymous, basic, Docker Hub's bearer-token challenge), retries with backoff on
transient failures, and turning registry answers into modelrunner's errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

import httpx

from modelrunner.core.errors import AuthenticationFailed, NotFound, RegistryUnavailable
from modelrunner.core.references import ModelReference
from modelrunner.settings import Settings
from modelrunner.store import media_types
from modelrunner.store.registry.challenge import Challenge, parse_challenge
from modelrunner.store.registry.credentials import Credentials, find_credentials
from modelrunner.store.registry.endpoints import candidate_base_urls

logger = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(
    (media_types.OCI_MANIFEST, media_types.DOCKER_MANIFEST, media_types.OCI_INDEX,
     "application/vnd.docker.distribution.manifest.list.v2+json")
)
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 8.0
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def registry_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The system's trust store (as Docker uses), or the configured bundle for private registries.
    Blocking (reads the certificates): build it once, off the event loop."""
    ca_file = str(settings.registry_ca_bundle) if settings.registry_ca_bundle else None
    return ssl.create_default_context(cafile=ca_file)


def backoff_s(attempt: int) -> float:
    return min(BACKOFF_FIRST_S * 2 ** attempt, BACKOFF_MAX_S)


def _is_tls_error(exc: BaseException) -> bool:
    text = str(exc)
    return any(marker in text for marker in ("SSL", "TLS", "CERTIFICATE", "certificate", "WRONG_VERSION"))


def _is_certificate_error(exc: BaseException) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc)


class RegistryClient:
    """Calls to one repository (`reference.repository` on `reference.registry`). Use as an async
    context manager; one instance serves one pull or push."""

    def __init__(self, settings: Settings, reference: ModelReference, *, push: bool = False,
                 base_urls: list[str] | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.reference = reference
        self._settings = settings
        self._push = push
        urls = base_urls or candidate_base_urls(settings, reference.registry)
        if push:
            mirrors = settings.registry_mirrors.get(reference.registry, ())
            urls = [u for u in urls if u not in mirrors]
        self._candidates = urls
        self._base_url: str | None = None
        self._ssl_context = ssl_context or registry_ssl_context(settings)
        self._http = httpx.AsyncClient(verify=self._ssl_context, follow_redirects=True,
                                       timeout=httpx.Timeout(60.0, connect=10.0))
        self._authorization: str | None = None
        actions = "pull,push" if push else "pull"
        self._scopes: set[str] = {f"repository:{reference.repository}:{actions}"}
        self._credentials: Credentials | None = None
        self._credentials_loaded = False

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def where(self) -> str:
        return f"{self.reference.registry}/{self.reference.repository}"

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the registry has not been contacted yet")
        return self._base_url

    def _url(self, path: str) -> str:
        return f"{self.base_url}/v2/{self.reference.repository}/{path}"

    # -- authentication ------------------------------------------------------------------------

    async def _get_credentials(self) -> Credentials | None:
        if not self._credentials_loaded:
            self._credentials = await asyncio.to_thread(find_credentials, self._settings, self.reference.registry)
            self._credentials_loaded = True
        return self._credentials

    def _auth_required(self, detail: str) -> AuthenticationFailed:
        return AuthenticationFailed(
            f"authentication required: registry {self.reference.registry} refused access to {self.where} "
            f"({detail}); log in with `docker login` or set MODEL_RUNNER_REGISTRY_USER and "
            "MODEL_RUNNER_REGISTRY_PASSWORD"
        )

    async def _answer_challenge(self, challenge: Challenge | None, previous: str | None) -> bool:
        """Set a new Authorization after a 401; False when there is nothing new to try."""
        credentials = await self._get_credentials()
        if challenge is not None and challenge.scheme == "bearer" and "realm" in challenge.params:
            self._scopes.update(challenge.scopes)
            token = await self._fetch_token(challenge, credentials)
            self._authorization = f"Bearer {token}"
        elif credentials is not None:
            self._authorization = credentials.basic_header
        else:
            return False
        return self._authorization != previous

    async def _fetch_token(self, challenge: Challenge, credentials: Credentials | None) -> str:
        params = [("scope", scope) for scope in sorted(self._scopes)]
        if service := challenge.params.get("service"):
            params.insert(0, ("service", service))
        headers = {"Authorization": credentials.basic_header} if credentials else {}
        realm = challenge.params["realm"]
        try:
            response = await self._http.get(realm, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise RegistryUnavailable(f"token service {realm} of {self.reference.registry} is unreachable: {exc}") from exc
        if response.status_code in (401, 403):
            raise self._auth_required(f"its token service answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise RegistryUnavailable(f"token service {realm} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise RegistryUnavailable(f"token service {realm} answered something other than JSON") from exc
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryUnavailable(f"token service {realm} answered without a token")
        return token

    # -- sending -------------------------------------------------------------------------------

    async def send(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                   content: bytes | None = None, stream: bool = False) -> httpx.Response:
        """Send with authentication and retries. A streamed response must be closed by the caller.

        401 answers are returned only when no credentials could help; the caller maps statuses.
        """
        attempts = self._settings.registry_max_attempts
        auth_retried = False
        attempt = 0
        while True:
            request_headers = dict(headers or {})
            if self._authorization:
                request_headers["Authorization"] = self._authorization
            request = self._http.build_request(method, url, headers=request_headers, content=content)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if _is_tls_error(exc) or attempt + 1 >= attempts:
                    raise RegistryUnavailable(f"registry {self.reference.registry} is unreachable: {exc or type(exc).__name__}") from exc
                logger.info("retrying %s %s after %s", method, url, type(exc).__name__)
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1
                continue
            if response.status_code == 401 and not auth_retried:
                await response.aclose()
                auth_retried = True
                previous = self._authorization
                if await self._answer_challenge(parse_challenge(response.headers.get("www-authenticate", "")), previous):
                    continue
                raise self._auth_required("HTTP 401")
            if response.status_code in TRANSIENT_STATUSES and attempt + 1 < attempts:
                await response.aclose()
                logger.info("retrying %s %s after HTTP %d", method, url, response.status_code)
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1
                continue
            return response

    async def _failure(self, response: httpx.Response, what: str) -> Exception:
        """The error for an unexpected registry answer about `what`."""
        with contextlib.suppress(httpx.HTTPError):
            await response.aread()
        return self.status_error(response.status_code, what, response.text[:200].strip() if response.is_closed else "")

    def status_error(self, status: int, what: str, detail: str = "") -> Exception:
        if status in (401, 403):
            return self._auth_required(f"HTTP {status}")
        if status == 404:
            return NotFound(f"{what} not found in registry {self.reference.registry} (HTTP 404)")
        suffix = f": {detail}" if detail else ""
        return RegistryUnavailable(f"registry {self.reference.registry} answered HTTP {status} for {what}{suffix}")

    # -- manifests -----------------------------------------------------------------------------

    async def get_manifest(self, reference: str) -> tuple[bytes, str]:
        """(manifest bytes, media type) of a tag or digest, trying mirrors before the registry."""
        last_error: Exception | None = None
        for base_url in self._candidates:
            self._base_url = base_url
            try:
                return await self._get_manifest_here(reference)
            except RegistryUnavailable as exc:
                if _is_certificate_error(exc.__cause__ or exc):
                    raise
                last_error = exc
            except (NotFound, AuthenticationFailed) as exc:
                last_error = exc
                if base_url.startswith("https://") and f"http://{base_url[8:]}" in self._candidates:
                    raise
        assert last_error is not None
        raise last_error

    async def _get_manifest_here(self, reference: str) -> tuple[bytes, str]:
        response = await self.send("GET", self._url(f"manifests/{reference}"), headers={"Accept": MANIFEST_ACCEPT},
                                   stream=True)
        try:
            if response.status_code == 404:
                raise NotFound(f"model not found in registry: {self.reference.display} (HTTP 404 from "
                               f"{self.reference.registry})")
            if response.status_code != 200:
                raise await self._failure(response, f"manifest {reference}")
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_MANIFEST_BYTES:
                    raise RegistryUnavailable(f"manifest of {self.where} is larger than {MAX_MANIFEST_BYTES} bytes")
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            return body, media_type
        finally:
            await response.aclose()

    async def put_manifest(self, reference: str, manifest: bytes, media_type: str) -> None:
        response = await self.send("PUT", self._url(f"manifests/{reference}"),
                                   headers={"Content-Type": media_type}, content=manifest)
        if response.status_code not in (200, 201):
            raise await self._failure(response, f"manifest upload to {self.where}:{reference}")

    # -- blobs ---------------------------------------------------------------------------------

    async def use_first_reachable(self) -> None:
        """Pick the base URL for a push: the first candidate that answers `/v2/` at all."""
        last_error: Exception | None = None
        for base_url in self._candidates:
            try:
                response = await self.send("GET", f"{base_url}/v2/")
            except RegistryUnavailable as exc:
                if _is_certificate_error(exc.__cause__ or exc):
                    raise
                last_error = exc
                continue
            if response.status_code in (200, 401, 403):
                self._base_url = base_url
                return
            last_error = await self._failure(response, "the API root /v2/")
        assert last_error is not None
        raise last_error

    async def authorize_blob_download(self, digest: str) -> tuple[str, dict[str, str]]:
        """URL and headers to fetch a blob outside the event loop (see blob_fetch), after a HEAD
        that answers any authentication challenge."""
        url = self._url(f"blobs/{digest}")
        response = await self.send("HEAD", url)
        if response.status_code != 200:
            raise await self._failure(response, f"blob {digest}")
        return url, {"Authorization": self._authorization} if self._authorization else {}

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS settings of this client, for blob bodies fetched outside httpx (see blob_fetch)."""
        return self._ssl_context

    async def has_blob(self, digest: str) -> bool:
        response = await self.send("HEAD", self._url(f"blobs/{digest}"))
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise await self._failure(response, f"blob {digest}")

    async def start_upload(self, *, mount: str | None = None, from_repository: str | None = None) -> str | None:
        """Open an upload session; with `mount`, ask for a cross-repository mount first.

        Returns the upload URL, or None when the registry mounted the blob (nothing to upload)."""
        url = self._url("blobs/uploads/")
        if mount and from_repository:
            url += f"?mount={mount}&from={from_repository}"
        response = await self.send("POST", url, content=b"")
        if response.status_code == 201 and mount:
            return None
        if response.status_code != 202:
            raise await self._failure(response, f"upload session on {self.where}")
        return self._absolute(response.headers["location"])

    def _absolute(self, location: str) -> str:
        return str(httpx.URL(self.base_url).join(location))

    async def upload_chunk(self, location: str, chunk: bytes, start: int) -> str:
        response = await self.send("PATCH", location, content=chunk, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(chunk) - 1}",
        })
        if response.status_code != 202:
            raise await self._failure(response, "blob chunk upload")
        return self._absolute(response.headers["location"])

    async def finish_upload(self, location: str, digest: str, last_chunk: bytes = b"") -> None:
        separator = "&" if "?" in location else "?"
        response = await self.send("PUT", f"{location}{separator}digest={digest}", content=last_chunk,
                                   headers={"Content-Type": "application/octet-stream"})
        if response.status_code not in (201, 204):
            raise await self._failure(response, f"blob upload of {digest}")
