"""Configure bodies merge into the stored settings, bad fields are refused by name, and the file
survives a reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.scheduler.model_config import ModelConfigFile, ModelSettings, apply_configure_body


def test_fields_left_out_keep_their_value_and_null_clears() -> None:
    first = apply_configure_body(ModelSettings(), {"model": "m", "context-size": 1024, "keep_alive": "10m"})
    second = apply_configure_body(first, {"runtime-flags": ["--temp", "0.1"], "keep_alive": None})
    assert second == ModelSettings(context_size=1024, runtime_flags=["--temp", "0.1"], keep_alive=None)


@pytest.mark.parametrize(("body", "named"), [
    ({"context-size": 0}, "context-size"),
    ({"context-size": "big"}, "context-size"),
    ({"keep_alive": "soon"}, "keep_alive"),
    ({"mode": "dance"}, "mode"),
    ({"think": "yes"}, "think"),
    ({"reasoning-budget": -5}, "reasoning-budget"),
    ({"gpu-layers": 3}, "gpu-layers"),
    ({"runtime-flags": ["--mmproj", "x"]}, "--mmproj"),
])
def test_bad_settings_are_refused_by_name(body: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        apply_configure_body(ModelSettings(), body)
    assert named in refused.value.message


def test_saved_settings_are_read_back(tmp_path: Path) -> None:
    settings = ModelSettings(context_size=512, runtime_flags=["--seed", "3"], keep_alive="-1", mode="completion",
                             reasoning=False, reasoning_budget_tokens=0)
    ModelConfigFile(tmp_path).save("sha256:abc", "ai/x:latest", settings)
    reloaded = ModelConfigFile(tmp_path)
    reloaded.load()
    assert reloaded.settings_for("sha256:abc") == settings
    assert reloaded.settings_for("sha256:other") == ModelSettings()
    assert reloaded.entries()["sha256:abc"]["model"] == "ai/x:latest"
