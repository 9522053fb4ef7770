"""The registered upstreams, persisted in the store folder (`modelrunner-upstreams.json`, written
atomically) so they survive restarts, and the model entry each one appears as in every model list."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import orjson

from modelrunner.core.errors import Conflict, InvalidRequest, NotFound
from modelrunner.engines.registry import REMOTE_ENGINE
from modelrunner.engines.remote.upstream import Upstream
from modelrunner.store.files import write_atomically
from modelrunner.store.models import StoredModel

logger = logging.getLogger(__name__)

FILE_NAME = "modelrunner-upstreams.json"
MAX_NAME_CHARS = 128
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS or not _NAME.match(name) \
            or ".." in name or name.endswith("/"):
        raise InvalidRequest("name: letters, digits and . _ : / - only, starting with a letter or digit "
                             f"(at most {MAX_NAME_CHARS} characters)", param="name")
    return name


def check_env_name(name: str | None) -> str | None:
    if name is not None and not _ENV_NAME.match(name):
        raise InvalidRequest("api_key_env: the NAME of an environment variable (the key itself is never sent "
                             "or stored)", param="api_key_env")
    return name


def upstream_model(upstream: Upstream, *, default_context_size: int) -> StoredModel:
    """An upstream as a model: listed, resolved and leased like any stored one, with engine `remote`.
    Without a registered context size, the runner's cap: the upstream reports its own overflow."""
    digest = hashlib.sha256(f"modelrunner-upstream:{upstream.name}".encode()).hexdigest()
    created = datetime.fromtimestamp(upstream.created or 0, tz=timezone.utc).isoformat()
    config = {"format": REMOTE_ENGINE, "engine": REMOTE_ENGINE, "upstream_model": upstream.model,
              "replicas": len(upstream.replicas),
              "parallel_slots": upstream.max_concurrency * len(upstream.replicas)}
    config["context_size"] = upstream.context_size or default_context_size
    return StoredModel(id=f"sha256:{digest}", tags=(upstream.name,),
                       manifest={"config": {"digest": f"sha256:{digest}"}, "layers": []},
                       config_document={"config": config, "descriptor": {"created": created}})


class UpstreamRegistry:
    """The upstreams file and its contents in memory. Blocking: callers run it in a thread."""

    engine = REMOTE_ENGINE
    """The engine that serves these models."""

    def __init__(self, root: Path) -> None:
        self.path = root / FILE_NAME
        self._upstreams: dict[str, Upstream] = {}

    def load(self) -> None:
        try:
            document = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            logger.warning("ignoring unreadable upstreams file %s: %s", self.path, exc)
            return
        entries = document.get("upstreams") if isinstance(document, dict) else None
        for entry in entries if isinstance(entries, list) else ():
            try:
                upstream = Upstream.from_dict(entry)
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning("ignoring an unreadable upstream entry in %s: %s", self.path, exc)
                continue
            self._upstreams[upstream.name] = upstream

    def get(self, name: str) -> Upstream | None:
        return self._upstreams.get(name)

    def of_model(self, model: StoredModel) -> Upstream | None:
        """The upstream `model` stands for (see `upstream_model`), None for a stored model."""
        if model.config.get("engine") != REMOTE_ENGINE or not model.tags:
            return None
        return self._upstreams.get(model.tags[0])

    def all(self) -> list[Upstream]:
        return sorted(self._upstreams.values(), key=lambda upstream: upstream.name)

    def add(self, upstream: Upstream) -> None:
        if upstream.name in self._upstreams:
            raise Conflict(f"an upstream named {upstream.name!r} is already registered; remove it first")
        self._save({**self._upstreams, upstream.name: upstream})

    def remove(self, name: str) -> Upstream:
        upstream = self._upstreams.get(name)
        if upstream is None:
            raise NotFound(f"no upstream named {name!r}")
        self._save({key: value for key, value in self._upstreams.items() if key != name})
        return upstream

    def _save(self, upstreams: dict[str, Upstream]) -> None:
        document = {"version": 1, "upstreams": [upstreams[name].to_dict() for name in sorted(upstreams)]}
        write_atomically(self.path, json.dumps(document, indent=2).encode() + b"\n")
        self._upstreams = upstreams
