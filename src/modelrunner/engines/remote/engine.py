"""The remote engine: a runner per registered upstream. Nothing is loaded and no memory is ours: the
upstream's own servers hold the model, so estimates are zero and no runtime flags apply."""

from __future__ import annotations

from collections.abc import Callable

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.base import MemoryEstimate, ModelDescription, ParsedFlags, RunnerConfig
from modelrunner.engines.remote.runner import RemoteRunner
from modelrunner.engines.remote.upstream import Upstream

SecretLookup = Callable[[str], "str | None"]

DEFAULT_HEALTH_INTERVAL_S = 5.0


def _no_secret(name: str) -> str | None:
    return None


class RemoteEngine:
    name = "remote"

    def __init__(self, *, load_timeout_s: float, health_interval_s: float = DEFAULT_HEALTH_INTERVAL_S,
                 read_secret: SecretLookup = _no_secret) -> None:
        """`load_timeout_s` bounds each connection and health probe; `read_secret` reads the environment
        variable an upstream's `api_key_env` names, when its runner starts (the key is never stored)."""
        self._timeout_s = load_timeout_s
        self._health_interval_s = health_interval_s
        self._read_secret = read_secret

    async def start(self, source: Upstream, config: RunnerConfig, *, label: str) -> RemoteRunner:
        api_key = self._read_secret(source.api_key_env) if source.api_key_env else None
        runner = RemoteRunner(source, label=label, api_key=api_key, health_interval_s=self._health_interval_s,
                              connect_timeout_s=self._timeout_s, probe_timeout_s=self._timeout_s)
        await runner.start()
        return runner

    @staticmethod
    def parse_runtime_flags(flags: list[str]) -> ParsedFlags:
        if flags:
            raise InvalidRequest(f"runtime flags do not apply to an upstream (its own servers take them): "
                                 f"{flags[0]!r}", param="runtime_flags")
        return ParsedFlags()

    def estimate_memory(self, model: ModelDescription, config: RunnerConfig) -> MemoryEstimate:
        return MemoryEstimate(weights_bytes=0, kv_cache_bytes=0, overhead_bytes=0)

    def within_budget(self, model: ModelDescription, config: RunnerConfig, budget_bytes: int) -> RunnerConfig:
        return config

    def status(self) -> str:
        return "Running: OpenAI-compatible upstreams"

    def disk_usage_bytes(self) -> int:
        return 0
