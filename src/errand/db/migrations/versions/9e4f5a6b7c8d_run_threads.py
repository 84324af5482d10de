"""run threads

Revision ID: 9e4f5a6b7c8d
Revises: 8d3e4f5a6b7c
Create Date: 2026-12-10 09:00:00.000000

A run belongs to a thread (a conversation): a follow-up message is a new run in the same
thread, and starts from the earlier runs' turns, read back from their events (docs/runs.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "9e4f5a6b7c8d"
down_revision: str | Sequence[str] | None = "8d3e4f5a6b7c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_thread_id"), ["thread_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_thread_id"))
        batch_op.drop_column("thread_id")
