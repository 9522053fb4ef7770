"""The README's first command on a fresh store: setup, start, and a chat answers with SmolLM2."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[2]


def test_serve_script_sets_up_and_answers_with_the_default_model(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MODELS_PATH": str(tmp_path / "models"), "MODEL_RUNNER_PORT": str(port)}
    env.pop("MODEL_RUNNER_NO_DEFAULT_MODEL", None)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(["scripts/serve.sh"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            raise AssertionError("the runner did not start:\n" + (tmp_path / "serve.log").read_text())

        # Exactly the README's curl body. It sets no max_tokens, and SmolLM2 sometimes rambles until its
        # 8192-token context is full: minutes on a loaded 2-core machine, so the timeout only bounds a hang.
        response = httpx.post(url + "/engines/v1/chat/completions", timeout=900,
                              json={"model": "ai/smollm2", "messages": [{"role": "user", "content": "Hi"}]})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["model"] == "ai/smollm2"
        assert answer["choices"][0]["message"]["content"].strip()
        assert answer["usage"]["prompt_tokens"] > 5
        startup = (tmp_path / "serve.log").read_text()
        assert f"listening on http://127.0.0.1:{port}" in startup
        assert "ai/smollm2:135M-Q4_1" in startup and "ai/smollm2:latest" in startup
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
