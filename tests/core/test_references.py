import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.core.references import model_id_from, parse_reference


@pytest.mark.parametrize(
    ("given", "canonical", "display"),
    [
        ("smollm2", "docker.io/ai/smollm2:latest", "ai/smollm2:latest"),
        ("ai/smollm2", "docker.io/ai/smollm2:latest", "ai/smollm2:latest"),
        ("ai/smollm2:latest", "docker.io/ai/smollm2:latest", "ai/smollm2:latest"),
        ("docker.io/ai/smollm2:latest", "docker.io/ai/smollm2:latest", "ai/smollm2:latest"),
        ("  ai/smollm2:135M-Q4_1 ", "docker.io/ai/smollm2:135M-Q4_1", "ai/smollm2:135M-Q4_1"),
        ("AI/SmolLM2:Q4_K_M", "docker.io/ai/smollm2:Q4_K_M", "ai/smollm2:Q4_K_M"),
        ("myorg/model", "docker.io/myorg/model:latest", "myorg/model:latest"),
        ("localhost:5000/team/model:v1", "localhost:5000/team/model:v1", "localhost:5000/team/model:v1"),
        ("hf.co/Org/Repo:Q8_0", "huggingface.co/org/repo:Q8_0", "huggingface.co/org/repo:Q8_0"),
        ("registry.example.com/a/b/c", "registry.example.com/a/b/c:latest", "registry.example.com/a/b/c:latest"),
    ],
)
def test_references_normalise_like_docker_model_runner(given: str, canonical: str, display: str) -> None:
    reference = parse_reference(given)
    assert reference.canonical == canonical
    assert reference.display == display


def test_digest_references_keep_the_digest() -> None:
    digest = "sha256:" + "a" * 64
    assert parse_reference(f"ai/smollm2@{digest}").canonical == f"docker.io/ai/smollm2@{digest}"


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "ai/../etc", "/abs/path", "ai//x", "ai/x:bad tag", "ai/x\ny", "ai/x\x00", "ai/X y", "ai/x@sha256:zz",
     "a\\b", "ai/x:" + "t" * 200, "ai/-x"],
)
def test_unsafe_or_malformed_references_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_reference(bad)


def test_model_ids_are_recognised_in_all_three_forms() -> None:
    full = "0123456789ab" + "c" * 52
    assert model_id_from(full) == full
    assert model_id_from("sha256:" + full) == full
    assert model_id_from(full[:12]) == full[:12]
    assert model_id_from("smollm2") is None
