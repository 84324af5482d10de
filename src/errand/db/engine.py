"""The services database: one SQLAlchemy declarative base, engines and sessions.

SQLite by default (a file under errand's home), PostgreSQL or any SQLAlchemy URL
through ``ERRAND_DATABASE_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    Table,
    TypeDecorator,
    create_engine,
    event,
    insert,
    make_url,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from errand.errors import ConfigError


class AwareDateTime(TypeDecorator[datetime]):
    """A moment with its time zone on every database: SQLite keeps none, so what it hands back
    is read as UTC (errand writes UTC). Without this, the same column came back naive on SQLite
    and aware on PostgreSQL, and the API's ``date-time`` fields lost their offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The stored moment, time-zone aware."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base shared by every built-in service's tables."""


def make_engine(url: str, *, synchronous_commit: bool = True) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder and turns on foreign keys.

    A plain ``postgresql://`` URL uses psycopg 3 (the driver errand installs). Without
    ``synchronous_commit`` a commit does not wait for the disk: a process crash loses
    nothing, a power cut may undo the last commits (never half of one). Money and
    inventory keep it on; the run log and DBOS's checkpoints, which a replay rewrites,
    turn it off.
    """
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{url!r} is not a database URL. Set ERRAND_DATABASE_URL to sqlite:///PATH or "
            "postgresql://USER@HOST/DB (or unset it to use SQLite under ERRAND_HOME)."
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"errand stores its data in SQLite or PostgreSQL, not {parsed.get_backend_name()!r}. "
            "Set ERRAND_DATABASE_URL to sqlite:///PATH or postgresql://USER@HOST/DB."
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(str(parsed.database)).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the folder {folder} for the SQLite database ({exc.strerror}). "
                "Point ERRAND_HOME or ERRAND_DATABASE_URL at a writable folder."
            ) from None
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(
            f"Cannot use the database URL {parsed!r}: {exc}. Check ERRAND_DATABASE_URL."
        ) from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # SQLAlchemy, not the driver, starts transactions: the driver would start none before
            # the first write, so a savepoint opened earlier would commit on release and a later
            # rollback could not undo it.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=5000")
            if not synchronous_commit:
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # IMMEDIATE takes the write lock up front: a transaction that reads then writes
            # waits for the busy timeout instead of failing with "database is locked".
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    elif not synchronous_commit:

        @event.listens_for(engine, "connect")
        def _pg_async_commit(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            with dbapi_conn.cursor() as cur:
                cur.execute("SET synchronous_commit TO off")
            dbapi_conn.commit()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session maker bound to ``engine`` that keeps objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside one transaction: committed on success, rolled back on error."""
    with factory() as session, session.begin():
        yield session


_CLAIMS: dict[tuple[str, str, str], Any] = {}
"""``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` per (dialect, table, unique column), built once."""


def insert_unless_taken(conn: Connection, table: Table, unique: str, values: dict[str, Any]) -> int | None:
    """Insert ``values`` into ``table`` and return the new row's ``id``; None when another row already
    holds the same value in the ``unique`` column (an idempotency key).

    One statement, no exception and no savepoint: on PostgreSQL a racing insert of the same value
    waits for the first transaction to commit (then inserts nothing) or roll back (then inserts);
    a NULL never conflicts. Other databases raise `IntegrityError` on a taken value instead.
    """
    dialect = conn.dialect.name
    stmt = _CLAIMS.get((dialect, table.name, unique))
    if stmt is None:
        if dialect in ("postgresql", "sqlite"):
            make = pg_insert if dialect == "postgresql" else sqlite_insert
            base: Any = make(table).on_conflict_do_nothing(index_elements=[unique])
        else:  # pragma: no cover - other databases
            base = insert(table)
        stmt = _CLAIMS.setdefault((dialect, table.name, unique), base.returning(table.c.id))
    row = conn.execute(stmt, values).first()
    return None if row is None else int(row[0])
