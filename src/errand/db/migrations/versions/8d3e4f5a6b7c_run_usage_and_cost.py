"""run usage and cost

Revision ID: 8d3e4f5a6b7c
Revises: 7c2d3e4f5a6b
Create Date: 2026-12-02 09:00:00.000000

A run keeps the key that started it, its model, its tokens and their cost, so `errand keys
usage` can sum them per key and user over any period (docs/observability.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "8d3e4f5a6b7c"
down_revision: str | Sequence[str] | None = "7c2d3e4f5a6b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=True))
        for name in ("prompt_tokens", "cached_tokens", "completion_tokens"):
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("cost", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_key_id"), ["key_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_key_id"))
        for name in ("cost", "completion_tokens", "cached_tokens", "prompt_tokens", "model", "key_id"):
            batch_op.drop_column(name)
