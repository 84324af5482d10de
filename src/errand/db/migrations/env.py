"""Alembic environment for the services database (run through `errand.db.migrate`)."""

from __future__ import annotations

from alembic import context

from errand.db.engine import Base
from errand.db.metadata import import_all_models

import_all_models()  # every table errand owns is in the metadata
config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
