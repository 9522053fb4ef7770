"""A real browser against the runner: Debian's headless Chromium, driven by Playwright, loads pages from
a small loopback server under an attacker's name (`evil.test`, mapped to 127.0.0.1 by Chromium's own
resolver) and under `localhost`, and calls the runner with `fetch()` as any web page could."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import TINY_MODEL
from tests.support.http_threads import fixed_answer_server
from tests.support.server import RunningServer

CHROMIUM = Path("/usr/bin/chromium")
ATTACKER = "evil.test"
FETCH = """async ([url, init]) => {
    try {
        const response = await fetch(url, init);
        return {ok: true, status: response.status, body: await response.text()};
    } catch (error) {
        return {ok: false, error: String(error)};
    }
}"""
CHAT = {"model": TINY_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


@pytest.fixture(scope="module")
def page_server() -> Iterator[int]:
    """Serves an empty HTML page at every path: the page a site would have the user open."""
    with fixed_answer_server(b"<!doctype html><title>a page</title>", "text/html") as (port, _):
        yield port


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-chromium.sh")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", f"--host-resolver-rules=MAP {ATTACKER} 127.0.0.1"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def call(page: Page, url: str, init: dict[str, Any] | None = None) -> dict[str, Any]:
    return page.evaluate(FETCH, [url, init or {}])


def json_post(body: dict[str, Any]) -> dict[str, Any]:
    return {"method": "POST", "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def tags(server: RunningServer) -> list[str]:
    return [tag for model in httpx.get(server.url + "/models").json() for tag in model["tags"]]


def test_a_page_of_another_origin_cannot_use_the_runner(page: Page, page_server: int, server: RunningServer) -> None:
    page.goto(f"http://{ATTACKER}:{page_server}/")
    for url, init in [(f"{server.url}/v1/models", None), (f"{server.url}/api/tags", None),
                      (f"{server.url}/v1/chat/completions", json_post(CHAT))]:
        answer = call(page, url, init)
        assert answer["ok"] is False and "Failed to fetch" in answer["error"], answer
    before = tags(server)
    # A "simple" request needs no preflight: the browser sends it, the runner must not act on it.
    opaque = call(page, f"{server.url}/models/{TINY_MODEL}/tag?repo=evil/stolen",
                  {"method": "POST", "mode": "no-cors", "headers": {"content-type": "text/plain"}, "body": "{}"})
    assert opaque["ok"] is True and opaque["status"] == 0  # opaque: the page learns nothing
    assert tags(server) == before


def test_a_rebound_name_is_refused(page: Page, server: RunningServer) -> None:
    """DNS rebinding: the attacker's name now points at 127.0.0.1, so the page is "same-origin" with the
    runner; only the Host header tells, and it is refused."""
    response = page.goto(f"http://{ATTACKER}:{httpx.URL(server.url).port}/v1/models")
    assert response is not None and response.status == 403
    assert "MODEL_RUNNER_ALLOWED_HOSTS" in response.text()


def test_an_allowed_origin_and_the_runners_own_origin_work(page: Page, page_server: int,
                                                          server: RunningServer) -> None:
    page.goto(f"http://localhost:{page_server}/")
    listed = call(page, f"{server.url}/v1/models")
    assert listed["ok"] and listed["status"] == 200 and TINY_MODEL in listed["body"], listed
    chat = call(page, f"{server.url}/v1/chat/completions", json_post(CHAT))  # preflighted, then answered
    assert chat["ok"] and chat["status"] == 200 and '"chat.completion"' in chat["body"], chat
    page.goto(f"{server.url}/")
    own = call(page, "/api/tags")
    assert own["ok"] and own["status"] == 200 and TINY_MODEL in own["body"], own
