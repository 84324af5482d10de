"""one open run per thread

Revision ID: af5a6b7c8d9e
Revises: 9e4f5a6b7c8d
Create Date: 2026-12-11 09:00:00.000000

A thread takes one message at a time. `Runs.create` checks that the thread's last run has
ended, but two messages posted at the same moment could both pass that check; a partial unique
index on the thread's open run (queued, running or awaiting confirmation) makes the database
refuse the second insert, on SQLite and PostgreSQL alike.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "af5a6b7c8d9e"
down_revision: str | Sequence[str] | None = "9e4f5a6b7c8d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status IN ('queued', 'running', 'awaiting_confirmation')")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "uq_runs_thread_open",
        "runs",
        ["thread_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("uq_runs_thread_open", table_name="runs")
