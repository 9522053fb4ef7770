"""Which API a request belongs to, known by the router rather than guessed from the URL: each API's
routes are built with that API's route class, which stamps the API on the scope when it matches, and
each API's prefixes end in a fallback route, so that an unknown path under a prefix is still that
API's (`/v1/messages/anything` is Anthropic's, `/api/anything` Ollama's, other `/v1/...` OpenAI's)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from modelrunner.core.errors import NotFound

Api = Literal["anthropic", "openai", "ollama"]
DEFAULT_API: Api = "openai"
"""The API of a path no API owns (the model-management routes speak OpenAI's envelope)."""

SCOPE_KEY = "modelrunner.api"


def api_of(scope: Scope) -> Api:
    return scope.get(SCOPE_KEY, DEFAULT_API)


def _stamped(api: Api) -> type[APIRoute]:
    class ApiRoute(APIRoute):
        stamped_api = api

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            match, child_scope = super().matches(scope)
            if match is not Match.NONE:
                child_scope[SCOPE_KEY] = api
            return match, child_scope

    ApiRoute.__name__ = ApiRoute.__qualname__ = f"{api.capitalize()}Route"
    return ApiRoute


def api_of_route(route: APIRoute) -> Api | None:
    """The API a route's class stamps on the scope when it matches; None for an unstamped route."""
    return getattr(route, "stamped_api", None)


ANTHROPIC_ROUTE = _stamped("anthropic")
OPENAI_ROUTE = _stamped("openai")
OLLAMA_ROUTE = _stamped("ollama")


class ApiFallback(BaseRoute):
    """Any method on any path under `prefix`, as a partial match: a real route that matches the path
    with another method still wins (a 405), and only a path nothing knows becomes this API's 404."""

    def __init__(self, prefix: str, api: Api) -> None:
        pattern = re.escape(prefix.rstrip("/")).replace(r"\{backend\}", "[^/]+")
        self.prefix = prefix
        self.api = api
        self._regex = re.compile(f"^{pattern}(/.*)?$")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and self._regex.match(scope["path"]):
            return Match.PARTIAL, {SCOPE_KEY: self.api}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotFound(f"no route {scope['method']} {scope['path']}")

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NotImplementedError  # never named


def resolve_api(routes: Iterable[BaseRoute], scope: Scope) -> Api:
    """The API of a request that has not been routed yet (the edge refuses some before routing),
    from the routes given: the router's own fallbacks, whose prefixes are each API's mounts."""
    partial: Api | None = None
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.FULL:
            return child_scope.get(SCOPE_KEY, DEFAULT_API)
        if match is Match.PARTIAL and partial is None and SCOPE_KEY in child_scope:
            partial = child_scope[SCOPE_KEY]
    return partial or DEFAULT_API
