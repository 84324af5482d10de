"""Migrations find every table through `MODEL_MODULES`, not by importing the layers above."""

from __future__ import annotations

import ast
from pathlib import Path

import errand
from errand.db.metadata import MODEL_MODULES

SRC = Path(errand.__file__).resolve().parent


def _defines_tables(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(
        isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id == "Base" for b in node.bases)
        for node in ast.walk(tree)
    )


def test_every_module_that_defines_tables_is_listed() -> None:
    found = {
        "errand." + ".".join(p.relative_to(SRC).with_suffix("").parts)
        for p in SRC.rglob("*.py")
        if "migrations" not in p.parts and _defines_tables(p)
    }
    assert found - {"errand.db.engine"} == set(MODEL_MODULES)
