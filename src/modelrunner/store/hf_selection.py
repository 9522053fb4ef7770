"""Which files of a Hugging Face repository make the model `hf.co/ORG/REPO[:QUANT]`: the GGUF files
whose names end in the quant (default Q4_K_M, else the first GGUF), every shard of it, and an
`mmproj` projector when the repository has one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from modelrunner.core.errors import NotFound, UnsupportedArtifact

DEFAULT_QUANT = "Q4_K_M"
_SHARD_SUFFIX = re.compile(r"-(\d{5})-of-(\d{5})$", re.IGNORECASE)
_SEPARATORS = "-_."


@dataclass(frozen=True)
class HuggingFaceSelection:
    gguf_files: list[str]
    mmproj_file: str | None
    quant: str


def _stem(path: str) -> str:
    """File name without `.gguf` and without a `-00001-of-00003` shard suffix."""
    name = PurePosixPath(path).name
    return _SHARD_SUFFIX.sub("", name[: -len(".gguf")])


def _shard_number(path: str) -> int:
    match = _SHARD_SUFFIX.search(PurePosixPath(path).name[: -len(".gguf")])
    return int(match.group(1)) if match else 0


def _is_quant(path: str, quant: str) -> bool:
    stem, wanted = _stem(path).lower(), quant.lower()
    if stem == wanted or (stem.endswith(wanted) and stem[-len(wanted) - 1] in _SEPARATORS):
        return True
    return any(part.lower() == wanted for part in PurePosixPath(path).parts[:-1])


def quant_of(path: str) -> str:
    """A best guess at a GGUF's quant from its name: the last `-`/`.`-separated word (`Q8_0`)."""
    stem = _stem(path)
    return re.split(r"[-.]", stem)[-1] or stem


def _group_of(first: str, candidates: list[str]) -> list[str]:
    """Every shard that belongs with `first` (same folder and stem), in shard order."""
    folder, stem = PurePosixPath(first).parent, _stem(first)
    group = [f for f in candidates if PurePosixPath(f).parent == folder and _stem(f) == stem]
    return sorted(group, key=_shard_number)


def select_files(repo_files: list[str], tag: str | None) -> HuggingFaceSelection:
    """Pick the model's files from a repository listing. `tag` is the reference's tag (`latest` or
    None mean the default quant)."""
    ggufs = sorted(f for f in repo_files if f.lower().endswith(".gguf"))
    projectors = [f for f in ggufs if "mmproj" in PurePosixPath(f).name.lower()]
    models = [f for f in ggufs if f not in projectors]
    if not models:
        raise UnsupportedArtifact("unsupported artifact: the Hugging Face repository has no GGUF file "
                                  "(only GGUF repositories can be pulled)")
    explicit = tag not in (None, "", "latest")
    wanted = tag if explicit else DEFAULT_QUANT
    assert wanted is not None
    matching = [f for f in models if _is_quant(f, wanted)]
    if matching:
        quant = wanted
    elif explicit:
        available = sorted({quant_of(f) for f in models})
        raise NotFound(f"no GGUF file for quant {wanted!r} in the Hugging Face repository; "
                       f"available: {', '.join(available)}")
    else:
        matching = models
        quant = quant_of(models[0])
    gguf_files = _group_of(matching[0], matching)
    mmproj = next((f for f in projectors if _is_quant(f, quant)), projectors[0] if projectors else None)
    return HuggingFaceSelection(gguf_files=gguf_files, mmproj_file=mmproj, quant=quant)
