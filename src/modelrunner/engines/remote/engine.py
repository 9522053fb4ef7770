"""The remote engine: a runner per registered upstream, nothing to load."""

from __future__ import annotations

from collections.abc import Callable

from modelrunner.engines.remote.runner import RemoteRunner
from modelrunner.engines.remote.upstream import Upstream

SecretLookup = Callable[[str], "str | None"]


class RemoteEngine:
    name = "remote"

    def __init__(self, *, read_secret: SecretLookup, health_interval_s: float, connect_timeout_s: float,
                 probe_timeout_s: float) -> None:
        self._read_secret = read_secret
        self._health_interval_s = health_interval_s
        self._connect_timeout_s = connect_timeout_s
        self._probe_timeout_s = probe_timeout_s

    def api_key_for(self, upstream: Upstream) -> str | None:
        return self._read_secret(upstream.api_key_env) if upstream.api_key_env else None

    async def start_upstream(self, upstream: Upstream, *, label: str) -> RemoteRunner:
        runner = RemoteRunner(upstream, api_key=self.api_key_for(upstream),
                              health_interval_s=self._health_interval_s,
                              connect_timeout_s=self._connect_timeout_s, probe_timeout_s=self._probe_timeout_s)
        await runner.start()
        return runner
