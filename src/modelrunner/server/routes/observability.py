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


_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _tail(raw: str | None) -> int:
    """The query's `tail`, read here so a bad one is our InvalidRequest in the envelope, not FastAPI's."""
    if raw is None:
        return DEFAULT_TAIL_LINES
    if not raw.strip().isdigit() or len(raw) > 9:
        raise InvalidRequest(f"tail must be a whole number of lines between 0 and 999999999, got {raw[:20]!r}",
                             param="tail")
    return int(raw)


def _flag(raw: str | None, name: str, default: bool) -> bool:
    if raw is None:
        return default
    if raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    raise InvalidRequest(f"{name} must be true or false, got {raw[:20]!r}", param=name)


@router.get("/logs")
async def logs(request: Request) -> Response:
    """Server lines first, then each loaded worker's, prefixed with its model; `tail` lines of each."""
    tail = _tail(request.query_params.get("tail"))
    worker = _flag(request.query_params.get("worker"), "worker", True)
    server_lines = list(request.app.state.log_lines.lines)
    lines = server_lines[-tail:] if tail else []
    if worker:
        for label, worker_lines in services_of(request).scheduler.worker_log_lines().items():
            lines.extend(f"[{label}] {line}" for line in (worker_lines[-tail:] if tail else []))
    return PlainTextResponse("\n".join(lines) + ("\n" if lines else ""))
