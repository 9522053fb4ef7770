"""The long-lived objects a request handler needs, created by the app's lifespan (no globals)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from starlette.requests import Request

from modelrunner.core.errors import ModelNotFound
from modelrunner.scheduler.names import CLAUDE_PREFIX
from modelrunner.scheduler.scheduler import Scheduler
from modelrunner.server.response_store import ResponseStore
from modelrunner.settings import Settings
from modelrunner.store.distribution import Distribution
from modelrunner.store.models import StoredModel
from modelrunner.store.store import ModelStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: ModelStore
    scheduler: Scheduler
    distribution: Distribution
    responses: ResponseStore = field(default_factory=ResponseStore)

    async def list_models(self) -> list[StoredModel]:
        """Stored models, then registered upstreams (engine `remote`)."""
        return await asyncio.to_thread(self.store.list_models) + self.scheduler.upstream_models()

    async def claude_aliases(self) -> list[tuple[str, StoredModel]]:
        """Each configured `claude-*` alias whose model is in the store, with that model."""
        found = []
        for alias in sorted(self.settings.model_aliases):
            if alias.startswith(CLAUDE_PREFIX):
                with contextlib.suppress(ModelNotFound):
                    found.append((alias, await self.scheduler.resolve(alias)))
        return found

    async def find_model(self, name: str) -> StoredModel:
        """A stored model by a client's name, with the same aliases generation accepts, as the store
        holds it now (generation may answer from a second-old memory of it; model routes do not)."""
        return await self.scheduler.resolve(name, fresh=True)


def services_of(request: Request) -> Services:
    return request.app.state.services
