"""Write a tiny random-weight llama GGUF file for tests.

Tests need a real model that llama.cpp loads and generates from, but a real
model is hundreds of megabytes and cannot be downloaded in CI. The file written
here is a few hundred kilobytes, is produced in milliseconds, and is
deterministic for a given seed. Its output is gibberish, but every code path of
llama.cpp that the runner relies on (loading, tokenizing any UTF-8 text, the
Jinja chat template, sampling, streaming, grammar-constrained JSON output) works
as it would with a real model.
"""

from __future__ import annotations

import pathlib

import gguf
import numpy as np

N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
HEAD_DIM = N_EMBD // N_HEAD
RMS_EPS = 1e-5
ROPE_FREQ_BASE = 10000.0

BIAS_DIM = 0
BIAS_ACTIVATION = 4.0
OUTPUT_STD = 0.2
PRINTABLE_BIAS = 1.5
OTHER_BIAS = -1.5
CONTROL_BIAS = -2.5

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# Byte-level BPE merges in rank order, written with GPT-2's byte symbols
# ("Ġ" is a space, "Ċ" a newline); each merge adds one token to the vocabulary.
MERGES: tuple[tuple[str, str], ...] = (
    ("Ġ", "t"),
    ("h", "e"),
    ("Ġt", "he"),
    ("t", "h"),
    ("i", "n"),
    ("e", "r"),
    ("a", "n"),
    ("o", "n"),
    ("r", "e"),
    ("Ġ", "a"),
    ("Ġ", "s"),
    ("e", "n"),
    ("o", "r"),
    ("a", "t"),
    ("Ġ", "w"),
    ("e", "s"),
    ("Ġ", "o"),
    ("in", "g"),
    ("Ġ", "Ġ"),
    ("Ċ", "Ċ"),
)

# ChatML, accepting string or list-of-parts content, rendering assistant
# tool_calls Hermes-style and listing ``tools`` in the system turn. Because
# tools and tool calls are rendered, llama.cpp's template analysis reports tool
# support and recognises the ``<tool_call>...</tool_call>`` format. It never
# raises, whatever the order of the roles.
CHAT_TEMPLATE = """\
{%- macro render_content(content) -%}
{%- if content is string -%}
{{- content -}}
{%- elif content is iterable and content is not mapping -%}
{%- for part in content -%}
{%- if part is string -%}
{{- part -}}
{%- elif part.type is defined and part.type == 'text' -%}
{{- part.text -}}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{%- endmacro -%}
{%- if tools is defined and tools -%}
{{- '<|im_start|>system\\n' -}}
{%- if messages and messages[0].role == 'system' -%}
{{- render_content(messages[0].content) + '\\n\\n' -}}
{%- endif -%}
{{- 'You may call these tools:\\n<tools>' -}}
{%- for tool in tools -%}
{{- '\\n' + (tool | tojson) -}}
{%- endfor -%}
{{- '\\n</tools>\\nReply with <tool_call>' -}}
{{- '{"name": ..., "arguments": ...}</tool_call>.<|im_end|>\\n' -}}
{%- set skip_first = messages and messages[0].role == 'system' -%}
{%- else -%}
{%- set skip_first = false -%}
{%- endif -%}
{%- for message in messages -%}
{%- if not (loop.first and skip_first) -%}
{{- '<|im_start|>' + message.role + '\\n' -}}
{%- if message.content is defined and message.content is not none -%}
{{- render_content(message.content) -}}
{%- endif -%}
{%- if message.tool_calls is defined and message.tool_calls -%}
{%- for tool_call in message.tool_calls -%}
{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}
{{- '\\n<tool_call>\\n{"name": "' + call.name + '", "arguments": ' -}}
{%- if call.arguments is string -%}
{{- call.arguments -}}
{%- else -%}
{{- call.arguments | tojson -}}
{%- endif -%}
{{- '}\\n</tool_call>' -}}
{%- endfor -%}
{%- endif -%}
{{- '<|im_end|>\\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\\n' -}}
{%- endif -%}
"""


def _bytes_to_unicode() -> dict[int, str]:
    """Return GPT-2's byte-to-symbol table, the alphabet of byte-level BPE.

    Every byte gets a printable symbol, so a vocabulary holding all 256 of them
    can spell any UTF-8 text; llama.cpp's "gpt2" tokenizer expects this mapping.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _vocab(
    special_tokens: tuple[str, ...] = SPECIAL_TOKENS, user_defined: frozenset[str] = frozenset()
) -> tuple[list[str], list[int], list[str]]:
    """Build tokens, token types and merges for a byte-level BPE vocabulary.

    The 256 byte symbols come first (so token id == byte value), then one token
    per merge, then the special tokens: control tokens, except those named in
    ``user_defined`` (added tokens a real model's tokenizer does not mark special).
    """
    table = _bytes_to_unicode()
    tokens = [table[b] for b in range(256)]
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    merges: list[str] = []
    for left, right in MERGES:
        assert left in tokens and right in tokens, (left, right)
        tokens.append(left + right)
        types.append(int(gguf.TokenType.NORMAL))
        merges.append(f"{left} {right}")
    for special in special_tokens:
        tokens.append(special)
        kind = gguf.TokenType.USER_DEFINED if special in user_defined else gguf.TokenType.CONTROL
        types.append(int(kind))
    assert len(set(tokens)) == len(tokens)
    return tokens, types, merges


def _token_bias(token: str, token_type: int, byte_of: dict[str, int]) -> float:
    """Return the output weight on the bias dimension for one token.

    The bias dimension of the residual stream is constant (the embeddings set
    it and no layer writes to it), so this weight becomes a fixed logit offset:
    positive for tokens made of printable ASCII or newlines, negative for other
    bytes and lower still for control tokens.
    """
    if token_type in (int(gguf.TokenType.CONTROL), int(gguf.TokenType.USER_DEFINED)):
        return CONTROL_BIAS
    raw = bytes(byte_of[ch] for ch in token)
    if all(0x20 <= b < 0x7F or b == 0x0A for b in raw):
        return PRINTABLE_BIAS
    return OTHER_BIAS


def add_tiny_shape(writer: gguf.GGUFWriter, *, vocab_size: int, context_length: int) -> None:
    """The header fields every tiny fixture shares: f32 weights of the tiny dimensions above."""
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    writer.add_vocab_size(vocab_size)
    writer.add_context_length(context_length)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)


def write_tiny_llama_gguf(
    path: pathlib.Path,
    *,
    seed: int = 0,
    context_length: int = 2048,
    special_tokens: tuple[str, ...] = SPECIAL_TOKENS,
    user_defined: frozenset[str] = frozenset(),
    chat_template: str = CHAT_TEMPLATE,
    bos_token: str = "<|endoftext|>",
    eos_token: str = "<|im_end|>",
    eot_token: str | None = None,
    name: str = "tiny-llama",
) -> pathlib.Path:
    """Write a tiny random-weight llama GGUF model to ``path`` and return ``path``.

    The model has 2 layers, n_embd 64, 4 query heads over 2 KV heads (so the
    GQA path is exercised), FFN width 128 and F32 tensors; the tokenizer is
    GPT-2-style byte-level BPE with ChatML control tokens and a ChatML Jinja
    chat template. The same ``seed`` always produces a byte-identical file.
    ``context_length`` is stored as ``llama.context_length``, the training
    context that llama.cpp reports and uses as the default ``n_ctx``.

    The weights are random except for one hidden dimension that acts as a
    per-token logit bias (see ``_token_bias``): sampled text is mostly
    printable ASCII instead of invalid UTF-8, and control tokens such as
    ``<|im_end|>`` are rarely sampled, so replies usually run to ``max_tokens``
    while a grammar can still end them.

    The keyword arguments after ``context_length`` let a fixture stand in for
    another model family (``tests/support/families.py``): its special tokens,
    its chat template and its end-of-turn tokens.
    """
    path = pathlib.Path(path)
    rng = np.random.default_rng(seed)
    tokens, types, merges = _vocab(special_tokens, user_defined)
    n_vocab = len(tokens)
    token_id = {tok: i for i, tok in enumerate(tokens)}

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    add_tiny_shape(writer, vocab_size=n_vocab, context_length=context_length)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(ROPE_FREQ_BASE)
    writer.add_layer_norm_rms_eps(RMS_EPS)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(token_id[bos_token])
    writer.add_eos_token_id(token_id[eos_token])
    writer.add_eot_token_id(token_id[eot_token or eos_token])
    writer.add_pad_token_id(token_id[bos_token])
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    writer.add_chat_template(chat_template)

    def normal(*shape: int, std: float) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    kv_dim = N_HEAD_KV * HEAD_DIM
    proj_std = N_EMBD**-0.5
    embd = normal(n_vocab, N_EMBD, std=1.0)
    embd[:, BIAS_DIM] = BIAS_ACTIVATION
    writer.add_tensor("token_embd.weight", embd)
    for i in range(N_LAYER):
        attn_output = normal(N_EMBD, N_EMBD, std=proj_std)
        attn_output[BIAS_DIM] = 0.0
        ffn_down = normal(N_EMBD, N_FF, std=N_FF**-0.5)
        ffn_down[BIAS_DIM] = 0.0
        writer.add_tensor(
            f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32)
        )
        writer.add_tensor(
            f"blk.{i}.attn_q.weight", normal(N_EMBD, N_EMBD, std=proj_std)
        )
        writer.add_tensor(
            f"blk.{i}.attn_k.weight", normal(kv_dim, N_EMBD, std=proj_std)
        )
        writer.add_tensor(
            f"blk.{i}.attn_v.weight", normal(kv_dim, N_EMBD, std=proj_std)
        )
        writer.add_tensor(f"blk.{i}.attn_output.weight", attn_output)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(
            f"blk.{i}.ffn_gate.weight", normal(N_FF, N_EMBD, std=proj_std)
        )
        writer.add_tensor(f"blk.{i}.ffn_up.weight", normal(N_FF, N_EMBD, std=proj_std))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", ffn_down)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    output = normal(n_vocab, N_EMBD, std=OUTPUT_STD)
    byte_of = {sym: b for b, sym in _bytes_to_unicode().items()}
    output[:, BIAS_DIM] = [
        _token_bias(tok, typ, byte_of) for tok, typ in zip(tokens, types, strict=True)
    ]
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
