"""`GET /metrics` (Prometheus text) and `GET /logs` (the server's and the workers' recent lines)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import PlainTextResponse, Response

from modelrunner.core.errors import InvalidRequest
from modelrunner.server.services import services_of

router = APIRouter()

DEFAULT_TAIL_LINES = 500


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/logs")
async def logs(request: Request, tail: int = DEFAULT_TAIL_LINES, worker: bool = True) -> Response:
    """Server lines first, then each loaded worker's, prefixed with its model; `tail` lines of each."""
    if tail < 0:
        raise InvalidRequest("tail must not be negative", param="tail")
    server_lines = list(request.app.state.log_lines.lines)
    lines = server_lines[-tail:] if tail else []
    if worker:
        for label, worker_lines in services_of(request).scheduler.worker_log_lines().items():
            lines.extend(f"[{label}] {line}" for line in (worker_lines[-tail:] if tail else []))
    return PlainTextResponse("\n".join(lines) + ("\n" if lines else ""))
