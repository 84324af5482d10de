"""Fixtures for the built-in services: one seeded SQLite store per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

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
