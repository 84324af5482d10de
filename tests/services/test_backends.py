"""The services database works the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from errand.services.realestate.models import Listing
from errand.services.store import ServiceStore


def test_seeded_store_on_each_backend(make_store: Callable[..., ServiceStore], backend: str) -> None:
    store = make_store()
    assert store.engine.dialect.name == ("postgresql" if backend == "postgres" else "sqlite")
    with store.sessions() as s:
        assert s.scalar(select(func.count(Listing.id))) >= 3000
    other = make_store()  # isolated: a second store starts from its own seed
    with other.sessions() as s:
        assert s.scalar(select(func.count(Listing.id))) >= 3000


def test_migrations_match_the_models(make_store: Callable[..., ServiceStore]) -> None:
    """The schema Alembic builds is the schema the models declare: nothing left to migrate."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from errand.services.db import Base

    store = make_store(seed=False)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
