"""Write a tiny random-weight reranker GGUF for tests: a Qwen3 model with a ranking head.

llama.cpp reranks with a model whose GGUF declares rank pooling (`qwen3.pooling_type` 4) and carries
a classifier output tensor (`cls.output.weight`, scores for two labels from the pooled hidden state, the first one the relevance). Its scores
are meaningless but deterministic, and every code path of a reranking runner runs for real. The
tokenizer is the tiny llama fixture's byte-level BPE.
"""

from __future__ import annotations

import pathlib

import gguf
import numpy as np

from tests.support.tiny_model import HEAD_DIM, N_EMBD, N_FF, N_HEAD_KV, N_LAYER, _vocab, add_tiny_shape

ARCH = "qwen3"
POOLING_RANK = 4


def write_tiny_reranker_gguf(path: pathlib.Path, *, seed: int = 0, context_length: int = 2048) -> pathlib.Path:
    """Write the tiny reranker to `path` and return `path`; the same seed gives the same file."""
    path = pathlib.Path(path)
    rng = np.random.default_rng(seed)
    tokens, types, merges = _vocab()
    token_id = {tok: i for i, tok in enumerate(tokens)}

    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_name("tiny-reranker")
    add_tiny_shape(writer, vocab_size=len(tokens), context_length=context_length)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_uint32(f"{ARCH}.pooling_type", POOLING_RANK)
    writer.add_array(f"{ARCH}.classifier.output_labels", ["relevant", "irrelevant"])

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(token_id["<|endoftext|>"])
    writer.add_eos_token_id(token_id["<|im_end|>"])
    writer.add_pad_token_id(token_id["<|endoftext|>"])
    writer.add_add_bos_token(False)

    def normal(*shape: int, std: float) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    kv_dim = N_HEAD_KV * HEAD_DIM
    proj_std = N_EMBD**-0.5
    writer.add_tensor("token_embd.weight", normal(len(tokens), N_EMBD, std=1.0))
    for i in range(N_LAYER):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", normal(N_EMBD, N_EMBD, std=proj_std))
        writer.add_tensor(f"blk.{i}.attn_k.weight", normal(kv_dim, N_EMBD, std=proj_std))
        writer.add_tensor(f"blk.{i}.attn_v.weight", normal(kv_dim, N_EMBD, std=proj_std))
        writer.add_tensor(f"blk.{i}.attn_q_norm.weight", np.ones(HEAD_DIM, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_k_norm.weight", np.ones(HEAD_DIM, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_output.weight", normal(N_EMBD, N_EMBD, std=proj_std))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", normal(N_FF, N_EMBD, std=proj_std))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", normal(N_FF, N_EMBD, std=proj_std))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", normal(N_EMBD, N_FF, std=N_FF**-0.5))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", normal(len(tokens), N_EMBD, std=0.2))
    writer.add_tensor("cls.output.weight", normal(2, N_EMBD, std=0.05))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
