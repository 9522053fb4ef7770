"""Model references: how a user's name for a model becomes one canonical `registry/repo:tag`.

The rules are Docker Model Runner's, so that the same words name the same model in both tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelrunner.core.errors import InvalidRequest

DEFAULT_REGISTRY = "docker.io"
DEFAULT_NAMESPACE = "ai"
DEFAULT_TAG = "latest"
HUGGING_FACE_REGISTRY = "huggingface.co"

_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]+)?$")
_HEX_ID = re.compile(r"^(?:sha256:)?([0-9a-f]{64}|[0-9a-f]{12})$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
NAME_MAX_LENGTH = 255  # Docker's limit on `registry/repository`; a tag adds at most 128, a digest 71
REFERENCE_MAX_LENGTH = NAME_MAX_LENGTH + 1 + 128 + 1 + 71


@dataclass(frozen=True, slots=True)
class ModelReference:
    """A parsed, normalised model name: `registry/repository:tag` or `registry/repository@digest`."""

    registry: str
    repository: str
    tag: str = DEFAULT_TAG
    digest: str | None = None

    @property
    def canonical(self) -> str:
        """The full form stored in the index, e.g. `docker.io/ai/smollm2:latest`."""
        suffix = f"@{self.digest}" if self.digest else f":{self.tag}"
        return f"{self.registry}/{self.repository}{suffix}"

    @property
    def display(self) -> str:
        """The form shown to users: the default registry is left out."""
        name = self.canonical
        prefix = f"{DEFAULT_REGISTRY}/"
        return name[len(prefix):] if name.startswith(prefix) else name

    @property
    def repository_name(self) -> str:
        """`registry/repository` without tag: what a registry calls the repository."""
        return f"{self.registry}/{self.repository}"

    @property
    def short_name(self) -> str:
        """The last path segment, e.g. `smollm2`: accepted in look-ups when unambiguous."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def is_hugging_face(self) -> bool:
        return self.registry == HUGGING_FACE_REGISTRY

    def with_tag(self, tag: str) -> ModelReference:
        return parse_reference(f"{self.repository_name}:{tag}")


def model_id_from(text: str) -> str | None:
    """The hex of a model ID if `text` is one (12 or 64 hex characters, optionally `sha256:`)."""
    match = _HEX_ID.match(text.strip())
    return match.group(1) if match else None


def _reject_unsafe(text: str) -> None:
    if not text:
        raise InvalidRequest("model reference is empty")
    if len(text) > REFERENCE_MAX_LENGTH:
        raise InvalidRequest(f"model reference is {len(text)} characters long: at most {NAME_MAX_LENGTH} for the "
                             "name, 128 for the tag")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text) or " " in text:
        raise InvalidRequest(f"invalid model reference {text!r}: contains whitespace or control characters")
    if ".." in text or "//" in text or text.startswith("/") or "\\" in text:
        raise InvalidRequest(f"invalid model reference {text!r}")


def parse_reference(text: str) -> ModelReference:
    """Parse and normalise a model reference, raising InvalidRequest when it cannot name a model."""
    raw = text.strip()
    _reject_unsafe(raw)
    if raw.lower().startswith("hf.co/"):
        raw = HUGGING_FACE_REGISTRY + raw[len("hf.co"):]

    digest = None
    if "@" in raw:
        raw, digest = raw.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidRequest(f"invalid digest in model reference {text!r}")

    tag = DEFAULT_TAG
    last_slash = raw.rfind("/")
    colon = raw.rfind(":")
    if colon > last_slash:
        raw, tag = raw[:colon], raw[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidRequest(f"invalid tag {tag!r} in model reference {text!r}")

    parts = raw.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), parts[1:]
        if not _REGISTRY.match(registry):
            raise InvalidRequest(f"invalid registry {first!r} in model reference {text!r}")
    else:
        registry, path = DEFAULT_REGISTRY, parts
    if len(path) == 1 and registry == DEFAULT_REGISTRY:
        path = [DEFAULT_NAMESPACE, *path]

    path = [component.lower() for component in path]
    for component in path:
        if not _PATH_COMPONENT.match(component):
            raise InvalidRequest(f"invalid repository name {'/'.join(path)!r} in model reference {text!r}")
    name_length = len(registry) + 1 + len("/".join(path))
    if name_length > NAME_MAX_LENGTH:
        raise InvalidRequest(f"repository name is {name_length} characters long: at most {NAME_MAX_LENGTH} "
                             f"(registry/repository, as Docker's references)")
    return ModelReference(registry=registry, repository="/".join(path), tag=tag, digest=digest)


def display_name(canonical_tag: str) -> str:
    """A canonical tag as people write it: Docker Hub's `docker.io/` left out."""
    prefix = "docker.io/"
    return canonical_tag[len(prefix):] if canonical_tag.startswith(prefix) else canonical_tag
