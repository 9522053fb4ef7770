"""The package boundaries the architecture rests on, checked on the source itself: engines and dialects
build on `core` alone (an engine may use the engines' shared modules, a dialect its own package), and
only `engines/` knows which engines exist: nothing in the scheduler, the server, the store or the
dialects names llama.cpp or its binding, so that adding an engine touches `engines/` alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "modelrunner"
ENGINE_NAMES = re.compile(r"llama\.cpp|llamacpp|xllamacpp", re.IGNORECASE)


def modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def imported_modules(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    """The modelrunner modules `path` imports, relative imports resolved from its place under `root`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = list(path.relative_to(root).parent.parts)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return {name for name in names if name == "modelrunner" or name.startswith("modelrunner.")}


@pytest.mark.parametrize(("package", "allowed"), [
    ("engines", ("modelrunner.core", "modelrunner.engines")),
    ("dialects", ("modelrunner.core", "modelrunner.dialects")),
    ("core", ("modelrunner.core",)),
])
def test_a_package_imports_only_what_it_builds_on(package: str, allowed: tuple[str, ...]) -> None:
    found = {f"{path.relative_to(PACKAGE)} imports {name}"
             for path in modules(package) for name in imported_modules(path)
             if not any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)}
    assert modules(package), f"no modules under {package}/"
    assert found == set()


def test_a_dialect_never_imports_another_dialect() -> None:
    found = set()
    for path in modules("dialects"):
        own = path.relative_to(PACKAGE / "dialects").parts[0]
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[:2] == ["modelrunner", "dialects"] and len(parts) > 2 and parts[2] != own:
                found.add(f"{path.relative_to(PACKAGE)} imports {name}")
    assert found == set()


@pytest.mark.parametrize("package", ["scheduler", "server", "store", "dialects"])
def test_only_the_engines_name_an_engine(package: str) -> None:
    named = {f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in modules(package)
             for number, line in enumerate(path.read_text().splitlines(), start=1) if ENGINE_NAMES.search(line)}
    assert modules(package), f"no modules under {package}/"
    assert named == set()


def test_the_check_sees_an_engine_named_in_a_docstring_and_an_import(tmp_path: Path) -> None:
    """The checks above would pass on an empty tree; here they are shown to catch what they look for."""
    sample = tmp_path / "modelrunner" / "engines" / "sample.py"
    sample.parent.mkdir(parents=True)
    sample.write_text('"""Relies on llama.cpp."""\nfrom modelrunner.scheduler.scheduler import Scheduler\n'
                      "from ..store import models\nfrom . import sibling\n")
    assert ENGINE_NAMES.search(sample.read_text())
    assert imported_modules(sample, root=tmp_path) == {
        "modelrunner.scheduler.scheduler", "modelrunner.store", "modelrunner.engines"}
