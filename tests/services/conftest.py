"""Fixtures for the built-in services: one seeded SQLite store per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from errand.db.engine import make_engine
from errand.services.store import ServiceStore
from errand.tools import ToolContext


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceStore]:
    """A services database in a temporary folder, created and seeded once."""
    path = tmp_path_factory.mktemp("services") / "t.db"
    st = ServiceStore.open(f"sqlite:///{path}")
    yield st
    st.close()


@pytest.fixture
def session(store: ServiceStore) -> Iterator[Session]:
    """An open session; whatever a test leaves uncommitted is rolled back."""
    with store.sessions() as s:
        yield s


@pytest.fixture
def ctx(session: Session, tmp_path: Path) -> ToolContext:
    """What a tool gets from errand: the session and a fresh artifacts folder."""
    return ToolContext(
        user="tester", run_id="run-test", session=session, artifacts_dir=tmp_path / "artifacts"
    )


class Clock:
    """A clock the tests set and move: handed to tools as `ToolContext.now` (time-zone aware)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""Every service test that takes `backend` runs on both; PostgreSQL where ERRAND_TEST_POSTGRES_URL is set
(marked `postgres`, so ``-m "not postgres"`` leaves those runs out)."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database kind under test; PostgreSQL needs ERRAND_TEST_POSTGRES_URL (CI sets it)."""
    if request.param == "postgres" and not os.environ.get("ERRAND_TEST_POSTGRES_URL"):
        pytest.skip("PostgreSQL not configured: set ERRAND_TEST_POSTGRES_URL")
    return str(request.param)


@pytest.fixture
def make_store(backend: str, tmp_path: Path) -> Iterator[Callable[..., ServiceStore]]:
    """Make fresh, seeded stores on `backend`: a new SQLite file, or a new PostgreSQL schema.

    Each store is isolated, so tests (and test runs in parallel) never see each other's rows.
    """
    made: list[tuple[ServiceStore, str | None]] = []

    def make(*, seed: bool = True) -> ServiceStore:
        if backend == "sqlite":
            st = ServiceStore.open(f"sqlite:///{tmp_path}/s{len(made)}.db", seed=seed)
            made.append((st, None))
            return st
        base = os.environ["ERRAND_TEST_POSTGRES_URL"]
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = make_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        sep = "&" if "?" in base else "?"
        st = ServiceStore.open(f"{base}{sep}options=-csearch_path%3D{schema}", seed=seed)
        made.append((st, schema))
        return st

    yield make
    for st, schema in made:
        st.close()
        if schema:
            admin = make_engine(os.environ["ERRAND_TEST_POSTGRES_URL"])
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
