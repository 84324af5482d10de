"""A fresh schema in the test PostgreSQL, for tests that run processes against a real database."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from errand.db.engine import make_engine


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL, as a database URL; skips where none is configured."""
    base = os.environ.get("ERRAND_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("PostgreSQL not configured: set ERRAND_TEST_POSTGRES_URL")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}_dbos" CASCADE'))  # runs' queue
        admin.dispose()
