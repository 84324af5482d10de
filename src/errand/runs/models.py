"""Tables of durable runs: who owns a run, where it stands, and every event it emitted.

DBOS keeps the workflow's own checkpoints in its system database; these tables are
errand's view for people: listing a user's runs, reading a run's events from any point.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from errand.db.engine import AwareDateTime, Base

RUNS_REVISION = "5f0e1a2b3c4d"
"""The migration that created these tables (a database adopted at the baseline lacks them)."""
USAGE_REVISION = "8d3e4f5a6b7c"
"""The migration that added a run's key, model, tokens and cost."""
THREADS_REVISION = "9e4f5a6b7c8d"
"""The migration that put runs in threads (conversations)."""
OPEN_RUN = text("status IN ('queued', 'running', 'awaiting_confirmation')")
"""A run that has not ended (`errand.runs.log.FINISHED` are the others): a thread holds one at a time."""


def utcnow() -> datetime:
    """Now, in UTC, with its zone."""
    return datetime.now(UTC)


class RunRow(Base):
    """One run: owned by one user, in one state."""

    __tablename__ = "runs"
    __table_args__ = (
        # One open run per thread, enforced by the database: two messages posted to a thread at
        # the same moment cannot both pass the check in `Runs.create` (the second insert fails).
        Index(
            "uq_runs_thread_open",
            "thread_id",
            unique=True,
            sqlite_where=OPEN_RUN,
            postgresql_where=OPEN_RUN,
        ),
        {"info": {"since": RUNS_REVISION}},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    input: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The confirmation the run waits for (the `confirmation_required` event), while it waits."""
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the run was started with (date, step budget), so a resumed run sees the same."""
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, onupdate=utcnow)
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    """The API key that started the run (None: started from the command line)."""
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The model that ran it, as the run reported it."""
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    """Of ``prompt_tokens``, those read from the prompt cache."""
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    """What its tokens cost, in ``ERRAND_PRICE_CURRENCY`` (None: the model has no price); set when it ends."""
    thread_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    """The conversation the run is a turn of: its earlier runs are the run's history (None: a run
    from before threads, a conversation of its own)."""


class RunEventRow(Base):
    """One event of a run. ``id`` orders all events and is the SSE event id."""

    __tablename__ = "run_events"
    __table_args__ = (
        UniqueConstraint("run_id", "seq"),
        # Ids never come back on SQLite either: a reader resuming after id N must not meet an old N.
        {"info": {"since": RUNS_REVISION}, "sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(String(40), ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)
