"""Check the tiny vision projector file itself; tests/server/test_anthropic_vision.py runs it in llama.cpp
behind a real server."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import gguf

from .tiny_model import N_EMBD, write_tiny_llama_gguf
from .tiny_vision import write_tiny_mmproj_gguf

# In a child process, so llama.cpp's threads never live in the pytest process.
LOAD_SCRIPT = """
import sys
import xllamacpp as x
p = x.CommonParams()
p.model.path = sys.argv[1]
p.mmproj.path = sys.argv[2]
p.n_ctx = 512
p.port = 0
p.cpuparams.n_threads = 1
try:
    x.Server(p)
except Exception:
    sys.exit(3)
"""


def test_write_is_small_and_deterministic(tmp_path: pathlib.Path) -> None:
    first = write_tiny_mmproj_gguf(tmp_path / "a.gguf", seed=1)
    second = write_tiny_mmproj_gguf(tmp_path / "b.gguf", seed=1)
    other = write_tiny_mmproj_gguf(tmp_path / "c.gguf", seed=2)

    assert first == tmp_path / "a.gguf"
    assert first.stat().st_size < 200_000
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()

    reader = gguf.GGUFReader(first)
    assert reader.fields["general.architecture"].contents() == "clip"
    assert reader.fields["clip.projector_type"].contents() == "mlp"
    assert reader.fields["clip.has_vision_encoder"].contents() is True


def test_output_width_follows_the_text_model(tmp_path: pathlib.Path) -> None:
    reader = gguf.GGUFReader(write_tiny_mmproj_gguf(tmp_path / "wide.gguf", text_embedding_length=96))
    projector_out = next(t for t in reader.tensors if t.name == "mm.2.weight")
    assert list(projector_out.shape) == [64, 96]  # ggml order: (in, out)
    assert reader.fields["clip.vision.projection_dim"].contents() == 96


def test_llama_cpp_refuses_a_projector_of_the_wrong_width(tmp_path: pathlib.Path) -> None:
    text = write_tiny_llama_gguf(tmp_path / "tiny.gguf")
    narrow = write_tiny_mmproj_gguf(tmp_path / "narrow.gguf", text_embedding_length=N_EMBD // 2)
    result = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(text), str(narrow)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert f"mismatch between text model (n_embd = {N_EMBD}) and mmproj (n_embd = {N_EMBD // 2})" in result.stderr
