"""Every table errand keeps in its database, for migrations and resets."""

from __future__ import annotations

import importlib

from sqlalchemy import Table

from errand.services.db import Base

_MODEL_MODULES = ("errand.runs.models", "errand.server.models")
"""Modules outside the service domains whose tables live in the same database."""


def import_all_models() -> None:
    """Import every module that defines tables, so ``Base.metadata`` knows them all."""
    from errand.services import builtin_domains

    builtin_domains()
    for name in _MODEL_MODULES:
        importlib.import_module(name)


def baseline_tables() -> list[Table]:
    """The tables of the first migration: what a database made before migrations can have."""
    import_all_models()
    return [t for t in Base.metadata.sorted_tables if "since" not in t.info]
