"""Every table errand keeps in its database, for migrations and resets."""

from __future__ import annotations

import importlib

from sqlalchemy import Table

from errand.db.engine import Base

MODEL_MODULES = (
    "errand.services.realestate.models",
    "errand.services.travel.models",
    "errand.services.food.models",
    "errand.services.shop.models",
    "errand.services.wallet.models",
    "errand.runs.models",
    "errand.server.models",
)
"""Every module that defines tables. The layers above the database define their own tables;
this list, not an import, is how migrations find them (a test checks it is complete)."""


def import_all_models() -> None:
    """Import every module that defines tables, so ``Base.metadata`` knows them all."""
    for name in MODEL_MODULES:
        importlib.import_module(name)


def baseline_tables() -> list[Table]:
    """The tables of the first migration: what a database made before migrations can have."""
    import_all_models()
    return [t for t in Base.metadata.sorted_tables if "since" not in t.info]
