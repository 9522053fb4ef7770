"""Take the README's screenshot of the inspector (docs/inspector.png): a runner on the default model, a few
requests through the three APIs' SDKs, the inspector opened on one of them in headless Chromium.

Run: .venv/bin/python scripts/screenshot-inspector.py"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import anthropic
import ollama
import openai
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import RunningServer  # noqa: E402

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "inspector.png"
MODEL = "ai/smollm2"


def send_requests(url: str) -> None:
    claude = anthropic.Anthropic(base_url=url, api_key="unused")
    claude.messages.create(model=MODEL, max_tokens=60, messages=[{"role": "user", "content": "Name three rivers."}])
    gpt = openai.OpenAI(base_url=url + "/engines/v1", api_key="unused")
    list(gpt.chat.completions.create(model=MODEL, max_tokens=40, stream=True,
                                     messages=[{"role": "user", "content": "What is a GGUF file?"}]))
    ollama.Client(host=url).chat(model=MODEL, messages=[{"role": "user", "content": "Say hi in French."}],
                                 options={"num_predict": 20})
    with claude.messages.stream(model=MODEL, max_tokens=80, system="You are a concise assistant.",
                                messages=[{"role": "user", "content": "Why is the sky blue? One sentence."}]) as s:
        s.get_final_message()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {"MODEL_RUNNER_NO_DEFAULT_MODEL": "0", "MODEL_RUNNER_THREADS": "2"}
        with RunningServer(Path(folder) / "store", Path(folder) / "server.log", env=env) as server:
            send_requests(server.url)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
                page = browser.new_page(viewport={"width": 1360, "height": 820})
                page.goto(server.url + "/ui")
                page.locator("#request-rows tr").nth(3).wait_for()
                page.locator("#request-rows tr").first.click()
                page.click("#detail button.subtab[data-tab=prompt]")
                time.sleep(0.5)
                page.screenshot(path=str(OUTPUT))
                browser.close()
    print(f"{OUTPUT} ({OUTPUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
