"""A damaged store on disk: a corrupt `models.json` is set aside and rebuilt from the manifests (with
the tags still readable in it), a corrupt config blob is an error naming the model, and
`modelrunner verify` finds flipped bytes in a weight file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import orjson
import pytest

from modelrunner.store import media_types
from tests.cli.conftest import COMMAND, cli_env
from tests.conftest import make_tiny_store
from tests.support.server import RunningServer


@pytest.mark.parametrize(("damage", "tags_kept"), [
    (lambda raw: raw[: len(raw) * 2 // 3], True),  # cut short, as by a crash of an older writer
    (lambda raw: b"\x00garbage{", False),
    (lambda raw: b'{"models": 5}', False),
])
def test_a_corrupt_index_is_set_aside_and_rebuilt(tmp_path: Path, tiny_gguf: Path, damage, tags_kept: bool) -> None:
    store = make_tiny_store(tmp_path / "store", tiny_gguf)
    model_id = store.list_models()[0].id
    index = store.index_path
    index.write_bytes(damage(index.read_bytes()))

    with RunningServer(store.root, tmp_path / "server.log") as runner:
        models = httpx.get(runner.url + "/models", timeout=30).json()
        assert [model["id"] for model in models] == [model_id]
        assert models[0]["tags"] == (["ai/tiny:latest"] if tags_kept else [])
        answer = httpx.post(runner.url + "/v1/chat/completions", timeout=60, json={
            "model": model_id[7:19], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        assert answer.status_code == 200, answer.text
    set_aside = list(store.root.glob("models.json.corrupt-*"))
    assert len(set_aside) == 1
    assert "set aside as models.json.corrupt-" in runner.log() and "rebuilt from 1 manifests" in runner.log()
    assert orjson.loads(index.read_bytes())["models"][0]["id"] == model_id


def test_a_corrupt_config_blob_is_an_error_naming_the_model(tmp_path: Path, tiny_gguf: Path) -> None:
    store = make_tiny_store(tmp_path / "store", tiny_gguf)
    model = store.list_models()[0]
    store.blob_path(model.manifest["config"]["digest"]).write_bytes(b"{not json")
    with RunningServer(store.root, tmp_path / "server.log") as runner:
        response = httpx.get(runner.url + "/models/ai/tiny", timeout=30)
    assert response.status_code == 500
    message = response.json()["error"]["message"]
    assert "ai/tiny" in message and "damaged" in message and "config blob" in message, message
    assert response.headers["request-id"].startswith("req_")
    assert "Traceback" not in runner.log()


def test_verify_finds_flipped_weight_bytes(tmp_path: Path, tiny_gguf: Path) -> None:
    store = make_tiny_store(tmp_path / "store", tiny_gguf)
    model = store.list_models()[0]
    with RunningServer(store.root, tmp_path / "server.log") as runner:
        verify = [*COMMAND, "verify"]
        healthy = subprocess.run([*verify, "ai/tiny"], env=cli_env(runner.url), capture_output=True, text=True,
                                 timeout=60)
        assert healthy.returncode == 0, healthy.stderr
        assert "ai/tiny:latest: ok (2 files checked)" in healthy.stdout

        weights = store.blob_path(model.layers_of(media_types.GGUF)[0]["digest"])
        weights.unlink()  # the store's blob is a hard link to the test's GGUF: write a copy, then damage it
        damaged = bytearray(tiny_gguf.read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        weights.write_bytes(bytes(damaged))

        report = httpx.post(runner.url + "/models/verify", timeout=60).json()
        assert report["ok"] is False
        [problem] = report["models"][0]["problems"]
        assert problem["digest"] == model.layers_of(media_types.GGUF)[0]["digest"]
        assert "does not match its digest" in problem["problem"]
        result = subprocess.run(verify, env=cli_env(runner.url), capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert "DAMAGED" in result.stdout and problem["digest"] in result.stdout
        unknown = httpx.post(runner.url + "/models/verify", json={"model": "ai/nope"}, timeout=30)
        assert unknown.status_code == 404


def test_an_internal_fault_is_a_500_with_request_id_that_keeps_the_connection(tmp_path: Path,
                                                                               tiny_gguf: Path) -> None:
    """A fault nobody planned for (here the index replaced by a directory) is answered once, in the
    envelope, with request-id, logged once, and the keep-alive connection serves the next request."""
    store = make_tiny_store(tmp_path / "store", tiny_gguf)
    with RunningServer(store.root, tmp_path / "server.log") as runner, \
            httpx.Client(base_url=runner.url, timeout=30) as http:
        assert http.get("/models").status_code == 200
        store.index_path.rename(store.root / "models.json.moved")
        store.index_path.mkdir()
        broken = http.get("/models")
        assert broken.status_code == 500
        assert broken.json()["error"]["message"] == "internal error: IsADirectoryError"
        request_id = broken.headers["request-id"]
        after = http.get("/")
        assert after.status_code == 200
        assert after.extensions["network_stream"] is broken.extensions["network_stream"]
    log = runner.log()
    assert log.count(f"unexpected error on GET /models ({request_id})") == 1
    assert "Exception in ASGI application" not in log
