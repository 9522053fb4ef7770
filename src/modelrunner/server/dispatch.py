"""Direct dispatch for the routes clients call many times a second.

FastAPI finds a route by matching the path against every route of every mount in turn (each API is
mounted under several prefixes), then runs its dependency machinery and two more middlewares; for a
small generation request that was most of the server's own CPU. A route whose path is fixed and whose
endpoint takes just the request (or nothing) is found here by one dictionary lookup on (method, path) and called
directly; everything else (paths with parameters, HEAD, unknown paths) goes on to FastAPI.

The table is built from the routers the app mounts, in the order it mounts them, and keeps a route only
where it is the one Starlette's first-match rule picks for that method and path, so that both ways in
answer alike. Errors become answers the same way FastAPI's handlers make them (`server/errors.py`)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from modelrunner.core.errors import ModelRunnerError, NotFound
from modelrunner.server import errors
from modelrunner.server.apis import SCOPE_KEY, Api, api_of_route

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Mount:
    """A router mounted under a prefix, as `FastAPI.include_router(router, prefix=...)` mounts it."""

    router: APIRouter
    prefix: str = ""


@dataclass(frozen=True)
class DirectRoute:
    route: APIRoute
    """Put on the scope as FastAPI's router would (the metrics label requests by its path)."""
    endpoint: Endpoint
    api: Api | None
    """The API the route's class stamps on the scope (its error envelope); None for unstamped routes."""


def _direct_endpoint(endpoint: Callable[..., Awaitable[Response]]) -> Endpoint | None:
    """The endpoint as called with the request, if FastAPI would call it with nothing but the request
    (or nothing at all) and its answer is a Response, so that calling it directly skips nothing FastAPI
    would have done (parameters, response models); else None."""
    signature = inspect.signature(endpoint)
    if signature.return_annotation not in (Response, "Response"):
        return None
    parameters = list(signature.parameters.values())
    if not parameters:
        return lambda request: endpoint()
    if len(parameters) == 1 and parameters[0].annotation in (Request, "Request"):
        return endpoint
    return None


BACKEND_PARAMETER = "{backend}"
_PROBE_BACKEND = "_backend_"
"""Stands for any engine name when checking which route Starlette would pick for a backend path."""


def direct_routes(mounts: Sequence[Mount]) -> dict[tuple[str, str], DirectRoute]:
    """(method, path) -> the route to call directly, for every path Starlette would route to it that is
    fixed but for a `{backend}` in its mount's prefix (kept as that literal text in the key)."""
    mounted = [(mount.prefix + route.path, route)
               for mount in mounts for route in mount.router.routes if isinstance(route, APIRoute)]
    patterns = [(compile_path(path)[0], route.methods) for path, route in mounted]
    table: dict[tuple[str, str], DirectRoute] = {}
    for index, (path, route) in enumerate(mounted):
        endpoint = _direct_endpoint(route.endpoint)
        if "{" in path.replace(BACKEND_PARAMETER, "") or endpoint is None:
            continue
        probe = path.replace(BACKEND_PARAMETER, _PROBE_BACKEND)
        for method in route.methods - {"HEAD"}:
            first = next(i for i, (pattern, methods) in enumerate(patterns)
                         if method in methods and pattern.match(probe))
            if first == index:
                table[(method, path)] = DirectRoute(route, endpoint, api_of_route(route))
    return table


class DirectDispatch:
    """Pure ASGI: the table's routes called directly, the rest passed to `app` (FastAPI's router).

    Docker Model Runner's clients name the engine in the path (`/engines/{engine}/v1/...`): such a
    path is the table's `/engines/...` route when `backends()` serves that engine, and a 404 naming
    the engines there are when it does not, rather than an answer from another engine."""

    def __init__(self, app: ASGIApp, *, routes: dict[tuple[str, str], DirectRoute],
                 backends: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.routes = routes
        self.backends = backends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        route, backend = self.routes.get((method, path)), None
        if route is None and path.startswith("/engines/"):  # /engines/{backend}/rest
            backend, _, rest = path[len("/engines/"):].partition("/")
            route = self.routes.get((method, f"/engines/{BACKEND_PARAMETER}/{rest}"))
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route.route
        if route.api is not None:
            scope[SCOPE_KEY] = route.api
        request = Request(scope, receive, send)
        try:
            if backend is not None:
                self._check_backend(scope, backend)
            response = await route.endpoint(request)
        except ModelRunnerError as exc:
            response = await errors.handle_model_runner_error(request, exc)
        except StarletteHTTPException as exc:
            response = await errors.handle_http_exception(request, exc)
        await response(scope, receive, send)

    def _check_backend(self, scope: Scope, backend: str) -> None:
        scope["path_params"] = {"backend": backend}  # the metrics label the route by its template
        known = list(self.backends())
        if backend not in known:
            raise NotFound(f"no backend {backend!r}; this runner has {', '.join(map(repr, known))}")
