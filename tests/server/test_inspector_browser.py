"""The web inspector in a real browser (Debian's Chromium, headless, driven by Playwright): it loads
cleanly, lists the model, the playground streams an answer, and an SDK request shows its rendered prompt."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from modelrunner.store.store import ModelStore
from tests.support.png_check import nonzero_fraction
from tests.support.server import RunningServer

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-chromium.sh (as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def open_inspector(browser: Browser, server: RunningServer, problems: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(server.url + "/ui")
    return page


def test_the_inspector_lists_streams_and_shows_the_prompt(browser: Browser, server: RunningServer,
                                                          tmp_path: Path) -> None:
    problems: list[str] = []
    page = open_inspector(browser, server, problems)
    expect(page).to_have_title("modelrunner inspector")
    expect(page.locator("#models")).to_contain_text("ai/tiny", timeout=WAIT_MS)
    expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)

    page.click("button.tab[data-view=playground]")
    expect(page.locator("#pg-model")).to_have_value("ai/tiny:latest", timeout=WAIT_MS)
    page.fill("#pg-max-tokens", "12")
    page.fill("#pg-system", "Answer briefly.")
    page.locator("#pg-messages textarea").first.fill("Say hello")
    page.click("#pg-send")
    expect(page.locator("#pg-send")).to_be_enabled(timeout=WAIT_MS)
    expect(page.locator("#pg-error")).to_be_hidden()
    answer = page.locator("#pg-answer .block.text > div")
    expect(answer).to_have_count(1)
    assert answer.inner_text().strip()
    expect(page.locator("#pg-stats")).to_contain_text("tokens")
    page.click("#pg-copy-python")
    expect(page.locator("#pg-code")).to_contain_text("client.messages.stream(")
    expect(page.locator("#pg-code")).to_contain_text('"Answer briefly."')

    page.click("button.tab[data-view=requests]")
    rows = page.locator("#request-rows tr")
    expect(rows.first).to_contain_text("Anthropic", timeout=WAIT_MS)  # the playground's own request
    before = rows.count()
    marker = f"marker-{uuid.uuid4().hex[:12]}"
    client = anthropic.Anthropic(base_url=server.url, api_key="unused", max_retries=0)
    client.messages.create(model="ai/tiny", max_tokens=8, messages=[{"role": "user", "content": marker}])
    expect(rows).to_have_count(before + 1, timeout=WAIT_MS)  # arrives through the live feed, no reload
    rows.first.click()
    page.click("#detail button.subtab[data-tab=prompt]")
    expect(page.locator("#detail pre.prompt")).to_contain_text(marker)
    page.click("#detail button.subtab[data-tab=answer]")
    expect(page.locator("#detail .block.text")).to_have_count(1)
    expect(page.locator("#chart-ttft rect").first).to_be_visible()

    screenshot = page.screenshot(path=str(tmp_path / "inspector.png"), full_page=True)
    assert (tmp_path / "inspector.png").stat().st_size > 10_000
    blank = browser.new_page(viewport={"width": 1440, "height": 900})
    blank_shot = blank.screenshot()
    blank.close()
    # A blank page filters to under 0.1% non-zero bytes; this one alone on a fresh server, about 2%.
    assert nonzero_fraction(blank_shot) < 0.001 < 0.005 < nonzero_fraction(screenshot)
    assert problems == []
    page.close()


def test_a_runner_with_an_api_key_is_asked_for_it_once(browser: Browser, tiny_store: ModelStore,
                                                       tmp_path: Path) -> None:
    key = "sk-inspector-key"
    with RunningServer(tiny_store.root, tmp_path / "server.log", env={"MODEL_RUNNER_API_KEY": key},
                       ready_headers={"x-api-key": key}) as server:
        problems: list[str] = []
        page = open_inspector(browser, server, problems)
        expect(page.locator("#key-dialog")).to_be_visible(timeout=WAIT_MS)
        page.fill("#key-input", key)
        page.click("#key-form button")
        expect(page.locator("#models")).to_contain_text("ai/tiny", timeout=WAIT_MS)
        expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)
        page.reload()  # kept for the tab: not asked again
        expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)
        expect(page.locator("#key-dialog")).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('modelrunner.apiKey')") == key
        assert problems == []
        page.close()
