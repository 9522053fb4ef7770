"""The runtime-flags allow-list: known llama.cpp flags map to CommonParams fields; anything else,
paths and out-of-range values are refused with the flag named."""

from __future__ import annotations

import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.engines.llamacpp.flags import parse_runtime_flags
from modelrunner.scheduler.model_config import split_flags


def test_allowed_flags_map_to_engine_and_runner_fields() -> None:
    parsed = parse_runtime_flags(["--threads", "3", "-np", "2", "--temp=0.5", "--top-k", "20", "-ctk", "q8_0",
                                  "--flash-attn", "off", "--batch-size", "256"])
    assert parsed.runner == {"threads": 3, "parallel_slots": 2}
    assert parsed.engine == {"sampling.temp": 0.5, "sampling.top_k": 20, "cache_type_k": 8,
                             "flash_attn_type": 0, "n_batch": 256}


def test_a_raw_string_is_split_like_a_shell() -> None:
    assert split_flags("--temp 0.2  --seed 7") == ["--temp", "0.2", "--seed", "7"]


@pytest.mark.parametrize(("flags", "named"), [
    (["--model", "x.gguf"], "--model"),
    (["--host", "0.0.0.0"], "--host"),
    (["--temp", "/etc/passwd"], "--temp"),
    (["--top-p", "1.5"], "--top-p"),
    (["--threads", "zero"], "--threads"),
    (["--cache-type-k", "q9"], "--cache-type-k"),
    (["--seed"], "--seed"),
])
def test_refused_flags_are_named(flags: list[str], named: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_runtime_flags(flags)
    assert named in refused.value.message
    assert refused.value.param == "runtime-flags"
