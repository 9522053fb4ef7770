"""The long-lived objects a request handler needs, created by the app's lifespan (no globals)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.requests import Request

from modelrunner.scheduler.scheduler import Scheduler
from modelrunner.server.template_tools import TemplateToolSupport
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
    template_tools: TemplateToolSupport = field(default_factory=TemplateToolSupport)

    async def list_models(self) -> list[StoredModel]:
        """Stored models, then registered upstreams (engine `remote`)."""
        return await asyncio.to_thread(self.store.list_models) + self.scheduler.upstream_models()

    async def find_model(self, name: str) -> StoredModel:
        """A stored model by a client's name, with the same aliases generation accepts."""
        return await self.scheduler.resolve(name)


def services_of(request: Request) -> Services:
    return request.app.state.services
