"""Scripts, benchmarks and examples name only what bertkit has (they run outside `make test`, so a rename
would otherwise break them silently)."""

from __future__ import annotations

import ast
import importlib

import pytest

from .conftest import ROOT

FILES = sorted(p for folder in ("scripts", "bench", "examples") for p in (ROOT / folder).glob("*.py"))


def bertkit_imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bertkit":
            for alias in node.names:
                yield node.module, alias.name


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_bertkit_name_a_script_imports_exists(path):
    for module, name in bertkit_imports(path):
        imported = importlib.import_module(module)
        assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), f"{module}.{name}"
