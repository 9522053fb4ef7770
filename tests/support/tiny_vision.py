"""Write a tiny random-weight CLIP vision projector (an "mmproj" GGUF) for tests.

No vision model can be downloaded in CI, so image input would only be tested
with the engine faked out. The file written here is a LLaVA-style projector
that llama.cpp's multimodal library (mtmd) loads beside the tiny text model of
``tests.support.tiny_model``: a two-block ViT over 8x8 patches of a 32x32 image
followed by the two-layer MLP projector ("mlp" projector type). Every image
becomes 16 embeddings of the text model's width. Its output means nothing, but
the whole path runs for real: image decoding, preprocessing, encoding, and the
image's embeddings taking their place in the prompt.
"""

from __future__ import annotations

import pathlib

import gguf
import numpy as np

IMAGE_SIZE = 32
PATCH_SIZE = 8
N_PATCHES = (IMAGE_SIZE // PATCH_SIZE) ** 2
# llava's graph prepends a class embedding, then drops it again before the projector.
N_POSITIONS = N_PATCHES + 1
# The projector yields one embedding per patch, so an image costs this many prompt tokens.
IMAGE_TOKENS = N_PATCHES

V_EMBD = 32
V_HEAD = 2
V_FF = 64
V_LAYER = 2
PROJECTOR_HIDDEN = 64
LAYER_NORM_EPS = 1e-6
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)


def write_tiny_mmproj_gguf(
    path: pathlib.Path, *, text_embedding_length: int = 64, seed: int = 0
) -> pathlib.Path:
    """Write a tiny random-weight CLIP projector GGUF to ``path`` and return ``path``.

    The projector's output width is ``text_embedding_length``, which must equal
    the ``n_embd`` of the text model it is loaded with (llama.cpp refuses a
    mismatch). The vision tower has width 32, 2 heads, FFN width 64 and 2
    blocks; llava uses the output of the second to last block, so one block
    runs and the last is loaded but unused, as in real LLaVA projectors. The
    same arguments always produce a byte-identical file of about 120 KB.
    """
    path = pathlib.Path(path)
    rng = np.random.default_rng(seed)

    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_name("tiny-clip-mlp")
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    writer.add_clip_has_vision_encoder(True)
    writer.add_clip_projector_type("mlp")
    writer.add_vision_image_size(IMAGE_SIZE)
    writer.add_vision_patch_size(PATCH_SIZE)
    writer.add_vision_embedding_length(V_EMBD)
    writer.add_vision_feed_forward_length(V_FF)
    writer.add_vision_block_count(V_LAYER)
    writer.add_vision_head_count(V_HEAD)
    writer.add_vision_attention_layernorm_eps(LAYER_NORM_EPS)
    writer.add_vision_projection_dim(text_embedding_length)
    writer.add_vision_image_mean(list(IMAGE_MEAN))
    writer.add_vision_image_std(list(IMAGE_STD))
    writer.add_vision_use_gelu(True)

    def normal(*shape: int, std: float) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    # numpy shapes are ggml's dimensions reversed: a linear layer is (out, in).
    patch_in = 3 * PATCH_SIZE * PATCH_SIZE
    writer.add_tensor("v.patch_embd.weight",
                      normal(V_EMBD, 3, PATCH_SIZE, PATCH_SIZE, std=patch_in**-0.5))
    writer.add_tensor("v.class_embd", normal(V_EMBD, std=1.0))
    writer.add_tensor("v.position_embd.weight", normal(N_POSITIONS, V_EMBD, std=0.1))
    writer.add_tensor("v.pre_ln.weight", ones(V_EMBD))
    writer.add_tensor("v.pre_ln.bias", zeros(V_EMBD))
    for i in range(V_LAYER):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"v.blk.{i}.{name}.weight", normal(V_EMBD, V_EMBD, std=V_EMBD**-0.5))
            writer.add_tensor(f"v.blk.{i}.{name}.bias", zeros(V_EMBD))
        for name in ("ln1", "ln2"):
            writer.add_tensor(f"v.blk.{i}.{name}.weight", ones(V_EMBD))
            writer.add_tensor(f"v.blk.{i}.{name}.bias", zeros(V_EMBD))
        writer.add_tensor(f"v.blk.{i}.ffn_up.weight", normal(V_FF, V_EMBD, std=V_EMBD**-0.5))
        writer.add_tensor(f"v.blk.{i}.ffn_up.bias", zeros(V_FF))
        writer.add_tensor(f"v.blk.{i}.ffn_down.weight", normal(V_EMBD, V_FF, std=V_FF**-0.5))
        writer.add_tensor(f"v.blk.{i}.ffn_down.bias", zeros(V_EMBD))
    writer.add_tensor("mm.0.weight", normal(PROJECTOR_HIDDEN, V_EMBD, std=V_EMBD**-0.5))
    writer.add_tensor("mm.0.bias", zeros(PROJECTOR_HIDDEN))
    writer.add_tensor("mm.2.weight",
                      normal(text_embedding_length, PROJECTOR_HIDDEN, std=PROJECTOR_HIDDEN**-0.5))
    writer.add_tensor("mm.2.bias", zeros(text_embedding_length))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
