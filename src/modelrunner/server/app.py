"""The ASGI application: services built in the lifespan, routes mounted under every alias."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelrunner import __version__
from modelrunner.core.errors import ModelRunnerError
from modelrunner.engines.llamacpp.engine import LlamaCppEngine
from modelrunner.engines.remote.engine import RemoteEngine
from modelrunner.scheduler.scheduler import Scheduler
from modelrunner.server import errors
from modelrunner.server.disconnect import CancelOnDisconnect
from modelrunner.server.log_buffer import RecentLogLines
from modelrunner.server.metrics import MetricsMiddleware, ServerMetrics
from modelrunner.server.middleware import EdgeMiddleware
from modelrunner.server.routes import engines, observability
from modelrunner.server.routes import anthropic
from modelrunner.server.routes import model_distribution, models, ollama, openai, system
from modelrunner.server.routes import upstreams
from modelrunner.server.services import Services
from modelrunner.settings import Settings, read_secret
from modelrunner.store.default_model import import_default_model
from modelrunner.store.distribution import Distribution
from modelrunner.store.models import display_name
from modelrunner.store.store import ModelStore

logger = logging.getLogger(__name__)

OPENAI_PREFIXES = ("/engines/v1", "/engines/{backend}/v1", "/v1")
ANTHROPIC_PREFIXES = ("/v1", "/anthropic/v1", "/engines/v1", "/engines/{backend}/v1")


async def build_services(settings: Settings, metrics: ServerMetrics | None = None) -> Services:
    store = ModelStore(settings.store_path)
    await asyncio.to_thread(store.ensure_layout)
    if settings.import_default_model:
        await asyncio.to_thread(import_default_model, store)
    await asyncio.to_thread(store.remove_stale_partials)
    engine = LlamaCppEngine(load_timeout_s=settings.load_timeout_s)
    remote_engine = RemoteEngine(read_secret=read_secret, health_interval_s=settings.upstream_health_interval_s,
                                 connect_timeout_s=settings.upstream_timeout_s,
                                 probe_timeout_s=settings.upstream_timeout_s)
    scheduler = Scheduler(store, engine, settings, on_load=metrics.observe_load if metrics else None,
                          remote_engine=remote_engine)
    await scheduler.start()
    if metrics is not None:
        metrics.watch_scheduler(scheduler)
    return Services(settings=settings, store=store, scheduler=scheduler,
                    distribution=Distribution(settings, store))


def create_app(settings: Settings) -> FastAPI:
    metrics = ServerMetrics()
    log_lines = RecentLogLines()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.getLogger("modelrunner").addHandler(log_lines)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # the access log already has one line per request
        services = await build_services(settings, metrics)
        app.state.services = services
        names = [display_name(tag) for model in await services.list_models() for tag in model.tags]
        logger.info("modelrunner %s listening on http://%s:%d, store %s, models: %s", __version__,
                    settings.bind_host, settings.port, settings.store_path, ", ".join(names) or "none")
        try:
            yield
        finally:
            await services.scheduler.close()
            logging.getLogger("modelrunner").removeHandler(log_lines)

    app = FastAPI(title="modelrunner", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(ModelRunnerError, errors.handle_model_runner_error)
    app.add_exception_handler(StarletteHTTPException, errors.handle_http_exception)
    app.add_exception_handler(Exception, errors.handle_unexpected_error)
    app.include_router(system.router)
    app.include_router(model_distribution.router)
    app.include_router(models.router)
    app.include_router(upstreams.router)
    app.include_router(engines.router)
    app.include_router(observability.router)
    app.state.metrics = metrics
    app.state.log_lines = log_lines
    for prefix in OPENAI_PREFIXES:
        app.include_router(openai.router, prefix=prefix)
    for prefix in ANTHROPIC_PREFIXES:
        app.include_router(anthropic.router, prefix=prefix)
    app.include_router(anthropic.model_list_router, prefix="/anthropic/v1")
    app.include_router(ollama.router)
    app.add_middleware(CancelOnDisconnect)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(EdgeMiddleware, api_key=settings.api_key, max_body_bytes=settings.max_request_body_bytes)
    return app
