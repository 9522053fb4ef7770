"""Image input end to end: the official `anthropic` SDK against a server whose tiny model carries the
tiny random vision projector of tests/support/tiny_vision.py, so llama.cpp's multimodal library
really decodes each image, encodes it and splices its embeddings into the prompt. Each image costs
exactly `IMAGE_TOKENS` prompt tokens, which is how these tests see that it reached the model.

The refusal of an image by a model without a projector is
test_anthropic_bad_input.py::test_unsupported_inputs_say_what_is_unsupported."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.anthropic_stream import check_sdk_events
from tests.support.http_threads import fixed_answer_server
from tests.support.server import RunningServer
from tests.support.tiny_model import N_EMBD
from tests.support.tiny_vision import IMAGE_TOKENS, write_tiny_mmproj_gguf

VISION_TINY = "ai/tiny-vision"
GREEDY = {"temperature": 0}
QUESTION = {"type": "text", "text": "What is in this picture?"}
CITY_TOOL = {"name": "get_weather", "description": "Get the current weather in a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def png_bytes(width: int, height: int, *, seed: int = 0) -> bytes:
    """An RGB gradient as a PNG, written by hand: the test needs no imaging library."""
    rows = b"".join(
        b"\x00" + bytes((x * 37 + y * 11 + channel * 5 + seed) % 256 for x in range(width) for channel in range(3))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def image_block(data: bytes, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type,
                                        "data": base64.b64encode(data).decode()}}


PICTURE = image_block(png_bytes(24, 16))


@pytest.fixture(scope="module")
def vision_server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("tiny-vision")
    mmproj = write_tiny_mmproj_gguf(root / "mmproj.gguf", text_embedding_length=N_EMBD)
    store = ModelStore(root / "store")
    package_gguf(store, PackageSpec(gguf_paths=[tiny_gguf], mmproj_path=mmproj), [parse_reference(VISION_TINY)])
    # The runner fetches image URLs only when allowed, and loopback hosts only when listed: the picture
    # server of test_an_image_by_url_is_fetched_by_the_runner listens on 127.0.0.1.
    env = {"MODEL_RUNNER_ALLOW_IMAGE_URLS": "1", "MODEL_RUNNER_IMAGE_URL_PRIVATE_HOSTS": "127.0.0.1"}
    with RunningServer(store.root, tmp_path_factory.mktemp("logs") / "tiny-vision.log", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def client(vision_server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=vision_server.url, api_key="not-needed", max_retries=0, timeout=60)


def prompt_tokens(usage: Any) -> int:
    """All the prompt, whether the prefix cache served part of it or not."""
    return usage.input_tokens + (usage.cache_read_input_tokens or 0)


def ask(client: anthropic.Anthropic, messages: list[dict[str, Any]], **extra: Any) -> anthropic.types.Message:
    message = client.messages.create(model=VISION_TINY, max_tokens=4, messages=messages, extra_body=GREEDY, **extra)
    assert message.stop_reason in ("max_tokens", "end_turn") and message.usage.output_tokens >= 1
    assert [block.type for block in message.content] == ["text"]
    return message


@pytest.mark.parametrize("images", [1, 2])
def test_each_image_adds_its_embeddings_to_the_prompt(client: anthropic.Anthropic, images: int) -> None:
    text_only = ask(client, [{"role": "user", "content": [QUESTION]}])
    with_images = ask(client, [{"role": "user", "content": [*[PICTURE] * images, QUESTION]}])
    assert prompt_tokens(with_images.usage) == prompt_tokens(text_only.usage) + images * IMAGE_TOKENS


def test_a_streamed_answer_about_an_image(client: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": [PICTURE, QUESTION]}]
    with client.messages.create(model=VISION_TINY, max_tokens=4, messages=messages, extra_body=GREEDY,
                                stream=True) as events:
        checked = check_sdk_events(list(events))
    assert checked.error is None and checked.text and checked.stop_reason in ("max_tokens", "end_turn")
    streamed_tokens = checked.usage["input_tokens"] + (checked.usage.get("cache_read_input_tokens") or 0)
    assert streamed_tokens == prompt_tokens(ask(client, messages).usage)


def test_an_image_inside_a_tool_result(client: anthropic.Anthropic) -> None:
    def loop(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": "Show me the weather map of Paris."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                               "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": result},
                                         {"type": "text", "text": "Describe the map."}]},
        ]

    caption = {"type": "text", "text": "Weather map:"}
    without = ask(client, loop([caption]), tools=[CITY_TOOL])
    with_map = ask(client, loop([caption, PICTURE]), tools=[CITY_TOOL])
    assert prompt_tokens(with_map.usage) == prompt_tokens(without.usage) + IMAGE_TOKENS


def test_an_image_by_url_is_fetched_by_the_runner(client: anthropic.Anthropic) -> None:
    picture = png_bytes(16, 16, seed=3)
    with fixed_answer_server(picture, "image/png") as (port, fetched):
        by_url = {"type": "image", "source": {"type": "url", "url": f"http://127.0.0.1:{port}/map.png"}}
        text_only = ask(client, [{"role": "user", "content": [QUESTION]}])
        with_image = ask(client, [{"role": "user", "content": [by_url, QUESTION]}])
    assert fetched == ["/map.png"]
    assert prompt_tokens(with_image.usage) == prompt_tokens(text_only.usage) + IMAGE_TOKENS


def test_bytes_that_are_no_image_are_a_400(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(client, [{"role": "user", "content": [image_block(b"not a picture at all"), QUESTION]}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "image" in caught.value.body["error"]["message"]


def test_an_image_url_that_cannot_be_fetched_is_a_400(client: anthropic.Anthropic) -> None:
    unreachable = {"type": "image", "source": {"type": "url", "url": "http://127.0.0.1:9/nothing.png"}}
    with pytest.raises(anthropic.BadRequestError) as refused:
        ask(client, [{"role": "user", "content": [unreachable, QUESTION]}])
    assert refused.value.body["error"]["type"] == "invalid_request_error"
    assert "could not fetch an image from its URL" in refused.value.body["error"]["message"]


@pytest.mark.parametrize("images", [1, 2])
def test_count_tokens_counts_images_as_generation_does(client: anthropic.Anthropic, images: int) -> None:
    """llama.cpp's render puts a text marker where an image goes and its tokenizer would count the
    marker (about 44 tokens here) instead of the image's embeddings: images are counted by evaluation."""
    messages = [{"role": "user", "content": [*[PICTURE] * images, QUESTION]}]
    counted = client.messages.count_tokens(model=VISION_TINY, messages=messages).input_tokens
    text_only = client.messages.count_tokens(model=VISION_TINY, messages=[{"role": "user", "content": [QUESTION]}])
    assert counted == prompt_tokens(ask(client, messages).usage) == text_only.input_tokens + images * IMAGE_TOKENS
