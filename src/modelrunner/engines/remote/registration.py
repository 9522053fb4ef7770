"""Checking an upstream before it is registered: every URL is probed at once, and the answer says
which URL failed and why (unreachable, not an OpenAI server, does not serve the model)."""

from __future__ import annotations

import asyncio
import time

import httpx

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.remote.probe import ReplicaProbe, probe_replica
from modelrunner.engines.remote.upstream import ReplicaAddress, Upstream


def _served_problem(probe: ReplicaProbe, model: str) -> str | None:
    if model in probe.models or f"{model}:latest" in probe.models:  # registries' default tag
        return None
    served = ", ".join(probe.models[:10]) or "nothing"
    return f"does not serve model {model!r} (it serves: {served})"


async def checked_upstream(draft: Upstream, *, api_key: str | None, allow_unreachable: bool,
                           timeout_s: float) -> Upstream:
    """`draft` with its replicas' kinds discovered and its model filled in (default: the first model
    the first reachable replica lists), or InvalidRequest naming each URL that failed."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(timeout=timeout_s, headers=headers, trust_env=False) as client:
        probes = await asyncio.gather(*(probe_replica(client, url) for url in draft.urls))
    reachable = [probe for probe in probes if probe.is_reachable]
    model = draft.model
    if not model:
        listed = next((probe.models for probe in reachable if probe.models), ())
        if not listed:
            reasons = "; ".join(f"{probe.url}: {probe.error}" for probe in probes if probe.error)
            raise InvalidRequest(f"cannot register upstream {draft.name!r}: "
                                 f"{reasons or 'no replica lists a model; give `model`'}", param="urls")
        model = listed[0]
    problems: list[str] = []
    for probe in probes:
        if not probe.is_reachable:
            if not allow_unreachable or (probe.error or "").startswith("not an OpenAI"):
                problems.append(f"{probe.url}: {probe.error}")
        elif (problem := _served_problem(probe, model)) is not None:
            problems.append(f"{probe.url}: {problem}")
    if problems:
        unreachable = any((probe.error or "").startswith("unreachable") for probe in probes)
        hint = " (allow_unreachable registers unreachable replicas as unhealthy)" if unreachable else ""
        raise InvalidRequest("cannot register upstream " + repr(draft.name) + ": " + "; ".join(problems) + hint,
                             param="urls")
    replicas = tuple(ReplicaAddress(url=probe.url, kind=probe.kind) for probe in probes)
    return Upstream(name=draft.name, model=model, replicas=replicas, api_key_env=draft.api_key_env,
                    max_concurrency=draft.max_concurrency, context_size=draft.context_size, created=time.time())

