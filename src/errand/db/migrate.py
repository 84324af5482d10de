"""Schema changes of the services database, managed by Alembic.

`upgrade(engine)` brings any database (new or old, SQLite or PostgreSQL) to the
current schema; `errand services seed|reset` and every store open run it. A change
to a model ships with a new revision in ``migrations/versions`` (make it with
``python -m errand.db.migrate revision "what changed"``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: object) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


BASELINE = "29a23cb9171d"
"""The first revision: the schema errand created with ``create_all`` before it used migrations."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration not yet applied to the database behind ``engine``.

    A database made before errand used migrations has tables but no ``alembic_version``:
    its missing tables are created as of the baseline and it is recorded at the baseline,
    so upgrading never tries to create a table that is already there.
    """
    with engine.begin() as conn:
        cfg = _config(conn)
        tables = set(inspect(conn).get_table_names())
        if tables and "alembic_version" not in tables:
            from errand.db.engine import Base
            from errand.db.metadata import baseline_tables

            Base.metadata.create_all(conn, tables=baseline_tables())
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    with engine.begin() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)


if __name__ == "__main__":  # python -m errand.db.migrate revision "message"
    from errand.db.engine import make_engine

    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m errand.db.migrate revision "what changed"')
    scratch = make_engine("sqlite://")
    upgrade(scratch)
    revision(scratch, sys.argv[2])
