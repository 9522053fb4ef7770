"""The ASGI application: services built in the lifespan, routes mounted under every alias."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp

from modelrunner import __version__
from modelrunner.core.errors import ModelRunnerError
from modelrunner.batches.service import BatchService
from modelrunner.engines.base import Engine
from modelrunner.engines.registry import REMOTE_ENGINE, engine_type
from modelrunner.recorder.recorder import RequestRecorder
from modelrunner.scheduler.scheduler import Scheduler
from modelrunner.server import errors
from modelrunner.server.apis import ApiFallback
from modelrunner.server.batch_generation import MessagesBatchHandler
from modelrunner.server.dispatch import DirectDispatch, Mount, direct_routes
from modelrunner.server.log_buffer import RecentLogLines
from modelrunner.server.metrics import ServerMetrics
from modelrunner.server.middleware import EdgeMiddleware
from modelrunner.server.recording import RecordingMiddleware
from modelrunner.server.routes import anthropic, batches, blobs, engines, inspector, observability, requests
from modelrunner.server.routes import model_distribution, models, ollama, openai, system
from modelrunner.server.routes import embeddings, responses, upstreams
from modelrunner.server.services import Services
from modelrunner.server.shutdown import ShutdownDrain
from modelrunner.server.trust import TrustBoundary
from modelrunner.settings import Settings, read_secret
from modelrunner.store.default_model import import_default_model
from modelrunner.store.distribution import Distribution
from modelrunner.store.models import display_name
from modelrunner.store.store import ModelStore

logger = logging.getLogger(__name__)

OPENAI_PREFIXES = ("/engines/v1", "/engines/{backend}/v1", "/v1")
RESPONSES_PREFIXES = ("/v1", "/engines/v1", "/engines/{backend}/v1", "/engines", "")
RERANK_PREFIXES = ("", "/v1", "/engines/v1", "/engines", "/engines/{backend}/v1", "/engines/{backend}")
ANTHROPIC_PREFIXES = ("/v1", "/anthropic/v1", "/engines/v1", "/engines/{backend}/v1")
BATCH_PREFIXES = ("/v1", "/anthropic/v1")
API_FALLBACKS = (
    *(ApiFallback(prefix + "/messages", "anthropic") for prefix in ANTHROPIC_PREFIXES),
    ApiFallback("/anthropic", "anthropic"),
    ApiFallback("/api", "ollama"),
    *(ApiFallback(prefix, "openai") for prefix in OPENAI_PREFIXES),
)
"""Last of the routes, first match wins: an unknown path under an API's prefix answers in its envelope."""


def build_engines(settings: Settings) -> list[Engine]:
    """One engine of each kind this runner serves, the default first. The remote engine fetches URLs a
    caller registered, so it exists only when MODEL_RUNNER_UPSTREAMS turns upstreams on."""
    engines: list[Engine] = [engine_type()(load_timeout_s=settings.load_timeout_s)]
    if settings.upstreams_enabled:
        engines.append(engine_type(REMOTE_ENGINE)(
            load_timeout_s=settings.upstream_timeout_s, health_interval_s=settings.upstream_health_interval_s,
            read_secret=read_secret))
    return engines


async def build_services(settings: Settings, metrics: ServerMetrics | None = None) -> Services:
    store = ModelStore(settings.store_path)
    await asyncio.to_thread(store.ensure_layout)
    if settings.import_default_model:
        await asyncio.to_thread(import_default_model, store)
    await asyncio.to_thread(store.remove_stale_partials)
    default_engine, *extra_engines = build_engines(settings)
    scheduler = Scheduler(store, default_engine, settings, on_load=metrics.observe_load if metrics else None,
                          extra_engines=extra_engines)
    await scheduler.start()
    if metrics is not None:
        metrics.watch_scheduler(scheduler)
    return Services(settings=settings, store=store, scheduler=scheduler,
                    distribution=Distribution(settings, store))


async def open_batches(settings: Settings, services: Services, metrics: ServerMetrics) -> BatchService:
    """Batches live beside the models, in the store folder; unfinished ones resume at once."""
    return await BatchService.open(
        settings.store_path, MessagesBatchHandler(services), expiry_s=settings.batch_expiry_s,
        retention_s=settings.batch_retention_s,
        concurrency=settings.batch_concurrency or 2 * settings.parallel_slots, observer=metrics)


def request_recorder(settings: Settings) -> RequestRecorder | None:
    """The recorder behind `/engines/requests` and the inspector; None when MODEL_RUNNER_RECORD=0."""
    if not settings.record_requests:
        return None
    return RequestRecorder(per_model=settings.record_per_model, max_bytes=settings.record_max_bytes)


def begin_shutdown(app: FastAPI) -> None:
    """Shutdown has begun: end the endless feeds, which would otherwise hold it up for its whole grace."""
    recorder = getattr(app.state, "recorder", None)
    if recorder is not None:
        recorder.end_feeds()


NO_FASTAPI_TELEMETRY: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
"""FastAPI's own OpenTelemetry hooks, off: the runner's metrics are its own (`/metrics`), and asking
OpenTelemetry whether anything listens cost every request more than its routing."""


class EdgeFirstApp(FastAPI):
    """FastAPI behind modelrunner's own pure-ASGI layers: the edge (which turns any unexpected fault into
    a 500 in the route's envelope), the recorder and direct dispatch come first, and only what direct
    dispatch passes on (paths with parameters, unknown paths) reaches FastAPI's router, through the two
    layers its routes need: the exception handlers (HTTP errors, parameter validation) and the exit
    stack FastAPI's request handling expects on the scope."""

    def __init__(self, outer_layers: Callable[[ASGIApp], ASGIApp], **options: Any) -> None:
        super().__init__(**options)
        self._outer_layers = outer_layers

    def build_middleware_stack(self) -> ASGIApp:
        handlers = {key: handler for key, handler in self.exception_handlers.items() if key not in (500, Exception)}
        return self._outer_layers(ExceptionMiddleware(AsyncExitStackMiddleware(self.router), handlers=handlers))


def settle_startup_objects() -> None:
    """What startup made (modules, routes, schemas: about 100k objects) lives as long as the server:
    frozen out of the collector, so that the full collections a busy stream's garbage triggers do not
    walk them all again (about 120 ms each, 1 to 2 µs a relayed token at 64 streams)."""
    gc.collect()
    gc.freeze()


def route_mounts() -> list[Mount]:
    """Every router under each of its prefixes, in the order their routes are matched."""
    return [
        Mount(system.router),
        Mount(blobs.router),  # before the `/models/{name:path}` routes, which would take its paths
        Mount(model_distribution.router),
        Mount(models.router),
        Mount(upstreams.router),
        Mount(engines.router),
        Mount(observability.router),
        Mount(requests.router),
        Mount(inspector.router),
        *(Mount(openai.router, prefix) for prefix in OPENAI_PREFIXES),
        *(Mount(anthropic.router, prefix) for prefix in ANTHROPIC_PREFIXES),
        *(Mount(embeddings.router, prefix) for prefix in OPENAI_PREFIXES),
        *(Mount(embeddings.rerank_router, prefix) for prefix in RERANK_PREFIXES),
        *(Mount(responses.router, prefix) for prefix in RESPONSES_PREFIXES),
        Mount(anthropic.model_list_router, "/anthropic/v1"),
        *(Mount(batches.router, prefix) for prefix in BATCH_PREFIXES),
        Mount(ollama.router),
    ]


def create_app(settings: Settings) -> FastAPI:
    metrics = ServerMetrics()
    log_lines = RecentLogLines()
    recorder = request_recorder(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.getLogger("modelrunner").addHandler(log_lines)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # the access log already has one line per request
        services = await build_services(settings, metrics)
        app.state.services = services
        app.state.batches = await open_batches(settings, services, metrics)
        if recorder is not None:
            await recorder.start()
        names = [display_name(tag) for model in await services.list_models() for tag in model.tags]
        settle_startup_objects()
        logger.info("modelrunner %s listening on http://%s:%d, store %s, models: %s", __version__,
                    settings.bind_host, settings.port, settings.store_path, ", ".join(names) or "none")
        try:
            yield
        finally:
            await app.state.batches.close()
            if recorder is not None:
                await recorder.close()
            await services.scheduler.close()
            logging.getLogger("modelrunner").removeHandler(log_lines)

    mounts = route_mounts()

    def served_engines() -> list[str]:
        return [engine.name for engine in app.state.services.scheduler.engines]

    def outer_layers(routed: ASGIApp) -> ASGIApp:
        dispatched: ASGIApp = DirectDispatch(routed, routes=direct_routes(mounts), backends=served_engines)
        if recorder is not None:
            dispatched = RecordingMiddleware(dispatched, recorder=recorder)
        return EdgeMiddleware(dispatched, api_prefixes=API_FALLBACKS, api_key=settings.api_key,
                              max_body_bytes=settings.max_request_body_bytes, metrics=metrics,
                              trust=TrustBoundary.from_settings(settings))

    app = EdgeFirstApp(outer_layers, title="modelrunner", version=__version__, lifespan=lifespan,
                       docs_url=None, redoc_url=None, openapi_url=None, telemetry=NO_FASTAPI_TELEMETRY)
    app.add_exception_handler(ModelRunnerError, errors.handle_model_runner_error)
    app.add_exception_handler(StarletteHTTPException, errors.handle_http_exception)
    app.add_exception_handler(RequestValidationError, errors.handle_request_validation_error)
    app.state.metrics = metrics
    app.state.log_lines = log_lines
    app.state.shutdown_drain = ShutdownDrain()
    app.state.recorder = recorder
    for mount in mounts:
        app.include_router(mount.router, prefix=mount.prefix)
    app.router.routes.extend(API_FALLBACKS)
    return app
