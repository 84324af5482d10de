"""The services database works the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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

    from errand.db.engine import Base

    store = make_store(seed=False)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_a_database_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    """Tables made with create_all (errand before Alembic): opening must not try to create them again."""
    from errand.db.engine import Base, make_engine
    from errand.services import builtin_domains
    from errand.services.realestate.models import City

    url = f"sqlite:///{tmp_path}/old.db"
    builtin_domains()
    old = make_engine(url)
    Base.metadata.tables["re_cities"].create(old)  # an old install had only some of today's tables
    old.dispose()
    store = ServiceStore.open(url)
    with store.sessions() as s:
        assert s.scalar(select(func.count(City.id))) >= 6
        assert s.scalar(select(func.count(Listing.id))) >= 3000
    store.close()
