"""What a registered upstream is: a name, the replicas that serve it, and what each can do. Plain
records, persisted by the scheduler's upstream registry; the API key is the name of an environment
variable, never the key itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

UpstreamKind = Literal["llama.cpp", "vllm", "modelrunner", "openai", "unknown"]
KNOWN_KINDS: tuple[UpstreamKind, ...] = ("llama.cpp", "vllm", "modelrunner", "openai", "unknown")
DEFAULT_MAX_CONCURRENCY = 16


@dataclass(frozen=True)
class ReplicaAddress:
    """One OpenAI-compatible base URL (what the `openai` SDK takes) and the kind of server behind it,
    discovered at registration: it decides how prompts are tokenised and constraints are passed."""

    url: str
    kind: UpstreamKind = "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplicaAddress:
        kind = data.get("kind", "unknown")
        return cls(url=str(data["url"]), kind=kind if kind in KNOWN_KINDS else "unknown")


@dataclass(frozen=True)
class Upstream:
    name: str
    model: str
    replicas: tuple[ReplicaAddress, ...]
    api_key_env: str | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    context_size: int | None = None
    created: float = 0.0

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "replicas": [replica.to_dict() for replica in self.replicas],
            "api_key_env": self.api_key_env,
            "max_concurrency": self.max_concurrency,
            "context_size": self.context_size,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Upstream:
        return cls(
            name=str(data["name"]),
            model=str(data["model"]),
            replicas=tuple(ReplicaAddress.from_dict(item) for item in data.get("replicas") or ()),
            api_key_env=data.get("api_key_env") or None,
            max_concurrency=int(data.get("max_concurrency") or DEFAULT_MAX_CONCURRENCY),
            context_size=int(data["context_size"]) if data.get("context_size") else None,
            created=float(data.get("created") or 0.0),
        )
