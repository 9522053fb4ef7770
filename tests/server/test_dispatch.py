"""Direct dispatch's table: only routes Starlette's first-match rule would pick for that method and
path, only endpoints that take nothing but the request (or nothing at all), and `{backend}` kept as a
literal."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelrunner.server.app import route_mounts
from modelrunner.server.dispatch import Mount, direct_routes


async def _answer(request: Request) -> Response:
    return Response()


def _router(*routes: tuple[str, str]) -> APIRouter:
    router = APIRouter()
    for method, path in routes:
        router.add_api_route(path, _answer, methods=[method])
    return router


def test_a_fixed_path_an_earlier_route_takes_is_left_to_fastapi() -> None:
    async def by_name(request: Request, name: str) -> Response:
        return Response()

    earlier = APIRouter()
    earlier.add_api_route("/models/{name:path}", by_name, methods=["GET"])
    table = direct_routes([Mount(earlier), Mount(_router(("GET", "/models/load"), ("POST", "/models/load")))])
    assert ("GET", "/models/load") not in table  # Starlette would give it to /models/{name:path}
    assert ("POST", "/models/load") in table  # which takes no POST


def test_endpoints_with_parameters_of_their_own_are_left_to_fastapi() -> None:
    async def limited(request: Request, limit: int | None = None) -> Response:
        return Response()

    async def answered_by_fastapi(request: Request) -> dict[str, str]:
        return {"serialised": "by FastAPI"}

    router = APIRouter()
    router.add_api_route("/requests", limited, methods=["GET"])
    router.add_api_route("/plain", answered_by_fastapi, methods=["GET"])
    assert direct_routes([Mount(router)]) == {}


def test_an_endpoint_without_parameters_is_called_directly_too() -> None:
    async def version() -> Response:
        return Response(b"1.0")

    router = APIRouter()
    router.add_api_route("/version", version, methods=["GET"])
    endpoint = direct_routes([Mount(router)])[("GET", "/version")].endpoint
    assert asyncio.run(endpoint(Request({"type": "http"}))).body == b"1.0"


def test_a_backend_prefix_is_kept_literally_and_each_mount_answers_its_own_paths() -> None:
    table = direct_routes([Mount(_router(("POST", "/chat")), prefix) for prefix in ("/v1", "/engines/{backend}/v1")])
    assert set(table) == {("POST", "/v1/chat"), ("POST", "/engines/{backend}/v1/chat")}


def test_the_apps_hot_routes_are_all_dispatched_directly() -> None:
    table = direct_routes(route_mounts())
    for path in ("/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions", "/engines/v1/chat/completions",
                 "/engines/{backend}/v1/chat/completions", "/api/chat", "/api/generate", "/v1/embeddings",
                 "/api/embed", "/v1/responses", "/rerank"):
        assert ("POST", path) in table, path
    assert table[("POST", "/v1/messages")].api == "anthropic" and table[("POST", "/api/chat")].api == "ollama"
    for path in ("/api/version", "/api/tags", "/v1/models", "/api/ps"):
        assert ("GET", path) in table, path
