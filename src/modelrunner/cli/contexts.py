"""Named runners the CLI can talk to (Docker's contexts): a host, the name of the environment variable
holding its API key, a CA certificate for a private TLS runner. Kept in the user's config folder;
`MODEL_RUNNER_HOST` still wins over the context in use."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelrunner.core.errors import Conflict, InvalidRequest, NotFound

FILE_NAME = "contexts.json"
DEFAULT_CONTEXT = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Context:
    name: str
    host: str
    api_key_env: str | None = None
    ca_cert: str | None = None
    description: str = ""

    def to_api(self) -> dict[str, Any]:
        return asdict(self)


def checked_context(name: str, host: str, api_key_env: str | None, ca_cert: Path | None,
                    description: str = "") -> Context:
    if not _NAME.match(name) or name == DEFAULT_CONTEXT:
        raise InvalidRequest(f"context name {name!r}: letters, digits, . _ - (and not {DEFAULT_CONTEXT!r})")
    host = host.strip().rstrip("/")
    parts = urlsplit(host if "://" in host else f"http://{host}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"--host {host!r} is not an http(s) URL such as https://gpu-box:12434")
    if api_key_env is not None and not _ENV_NAME.match(api_key_env):
        raise InvalidRequest("--api-key-env takes the NAME of an environment variable, not the key")
    if ca_cert is not None and not ca_cert.is_file():
        raise InvalidRequest(f"--ca-cert {ca_cert}: no such file")
    return Context(name=name, host=parts.geturl(), api_key_env=api_key_env,
                   ca_cert=str(ca_cert.resolve()) if ca_cert is not None else None, description=description)


class ContextFile:
    """The contexts and the one in use. Small and read once per command."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME
        self.current: str = DEFAULT_CONTEXT
        self.contexts: dict[str, Context] = {}
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"cannot read {self.path}: {exc}") from None
        for entry in document.get("contexts", []):
            context = Context(**{key: entry.get(key) for key in ("name", "host", "api_key_env", "ca_cert")},
                              description=entry.get("description") or "")
            self.contexts[context.name] = context
        current = document.get("current") or DEFAULT_CONTEXT
        self.current = current if current in self.contexts else DEFAULT_CONTEXT

    def get(self, name: str) -> Context:
        context = self.contexts.get(name)
        if context is None:
            raise NotFound(f"no context named {name!r} (see `modelrunner context ls`)")
        return context

    def in_use(self) -> Context | None:
        return self.contexts.get(self.current)

    def add(self, context: Context) -> None:
        if context.name in self.contexts:
            raise Conflict(f"a context named {context.name!r} exists; remove it first")
        self.contexts[context.name] = context
        self._save()

    def use(self, name: str) -> None:
        if name != DEFAULT_CONTEXT:
            self.get(name)
        self.current = name
        self._save()

    def remove(self, name: str) -> None:
        self.get(name)
        del self.contexts[name]
        if self.current == name:
            self.current = DEFAULT_CONTEXT
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"current": self.current,
                    "contexts": [self.contexts[name].to_api() for name in sorted(self.contexts)]}
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{FILE_NAME}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(document, indent=2) + "\n")
            os.replace(temporary, self.path)  # readers see the old file or the new one, never half
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
