"""The tiny random model behind a Qwen3-style template whose generation prompt opens `<think>` (and
closes it at once when thinking is turned off): reasoning through llama.cpp's own parser, on every API."""

from __future__ import annotations

from pathlib import Path

from modelrunner.core.references import parse_reference
from modelrunner.store.packaging import PackageSpec, package_gguf
from modelrunner.store.store import ModelStore
from tests.support.server import RunningServer

THINKER = "ai/tiny-thinker"
THINKING_CHATML = (
    "{%- for message in messages -%}"
    "{%- if message.role == 'assistant' -%}{{- '<|im_start|>assistant\\n' -}}"
    "{%- if message.reasoning_content is defined and message.reasoning_content -%}"
    "{{- '<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' -}}{%- endif -%}"
    "{{- (message.content if message.content is string else '') + '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + (message.content if message.content is string else '') + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}"
    "{%- else -%}{{- '<think>\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)


def thinker_store(tiny_gguf: Path, root: Path) -> ModelStore:
    """A store at `root/store` whose one model, THINKER, is the tiny model under the thinking template."""
    template = root / "thinking.jinja"
    template.write_text(THINKING_CHATML)
    store = ModelStore(root / "store")
    package_gguf(store, PackageSpec(gguf_paths=[tiny_gguf], chat_template_path=template), [parse_reference(THINKER)])
    return store


def thinker_server(tiny_gguf: Path, root: Path) -> RunningServer:
    return RunningServer(thinker_store(tiny_gguf, root).root, root / "server.log")
