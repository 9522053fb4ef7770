"""A small Docker-style token service (the bearer-challenge flow) to run beside a real registry whose
`auth: token:` configuration trusts the certificate it signs with. It grants what is asked to one
user and records every request, so tests can check the scopes and credentials the client sent."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support.certificates import CertificateFiles
from tests.support.http_threads import ThreadedHTTPServer
from tests.support.server import free_port

ISSUER = "modelrunner-test-issuer"
SERVICE = "modelrunner-test-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenRequest:
    scopes: list[str]
    user: str | None


@dataclass
class TokenService:
    signing: CertificateFiles
    user: str
    password: str
    port: int = field(default_factory=free_port)
    requests: list[TokenRequest] = field(default_factory=list)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_auth(self) -> dict[str, object]:
        """The registry's `auth:` section that sends clients here."""
        return {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER,
                          "rootcertbundle": str(self.signing.certificate)}}

    def issue(self, scopes: list[str], subject: str) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else ("", "", "")
            if kind == "repository":
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        der = self.signing.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.signing.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _user_of(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return user if (user, password) == (self.user, self.password) else ""

    def __enter__(self) -> TokenService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                user = service._user_of(self.headers.get("Authorization"))
                service.requests.append(TokenRequest(scopes=query.get("scope", []), user=user))
                if not user:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                token = service.issue(query.get("scope", []), user)
                body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadedHTTPServer(self.port, Handler)
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
