"""Direct dispatch for the routes clients call many times a second.

FastAPI finds a route by matching the path against every route of every mount in turn (each API is
mounted under several prefixes), then runs its dependency machinery and two more middlewares; for a
small generation request that was most of the server's own CPU. A route whose path is fixed and whose
endpoint takes just the request is found here by one dictionary lookup on (method, path) and called
directly; everything else (paths with parameters, HEAD, unknown paths) goes on to FastAPI.

The table is built from the routers the app mounts, in the order it mounts them, and keeps a route only
where it is the one Starlette's first-match rule picks for that method and path, so that both ways in
answer alike. Errors become answers the same way FastAPI's handlers make them (`server/errors.py`)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from modelrunner.core.errors import ModelRunnerError
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


def _takes_only_the_request(endpoint: Callable[..., object]) -> bool:
    """An endpoint FastAPI would call with nothing but the request and whose answer is a Response, so
    that calling it directly skips nothing FastAPI would have done (parameters, response models)."""
    signature = inspect.signature(endpoint)
    parameters = list(signature.parameters.values())
    return (len(parameters) == 1 and parameters[0].annotation in (Request, "Request")
            and signature.return_annotation in (Response, "Response"))


def direct_routes(mounts: Sequence[Mount]) -> dict[tuple[str, str], DirectRoute]:
    """(method, path) -> the route to call directly, for every fixed path Starlette would route to it."""
    mounted = [(mount.prefix + route.path, route)
               for mount in mounts for route in mount.router.routes if isinstance(route, APIRoute)]
    patterns = [(compile_path(path)[0], route.methods) for path, route in mounted]
    table: dict[tuple[str, str], DirectRoute] = {}
    for index, (path, route) in enumerate(mounted):
        if "{" in path or not _takes_only_the_request(route.endpoint):
            continue
        for method in route.methods - {"HEAD"}:
            first = next(i for i, (pattern, methods) in enumerate(patterns)
                         if method in methods and pattern.match(path))
            if first == index:
                table[(method, path)] = DirectRoute(route, route.endpoint, api_of_route(route))
    return table


class DirectDispatch:
    """Pure ASGI: the table's routes called directly, the rest passed to `app` (FastAPI's router)."""

    def __init__(self, app: ASGIApp, *, routes: dict[tuple[str, str], DirectRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get((scope.get("method"), scope.get("path"))) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route.route
        if route.api is not None:
            scope[SCOPE_KEY] = route.api
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except ModelRunnerError as exc:
            response = await errors.handle_model_runner_error(request, exc)
        except StarletteHTTPException as exc:
            response = await errors.handle_http_exception(request, exc)
        await response(scope, receive, send)
