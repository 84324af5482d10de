"""Tables of the HTTP server: API keys (only a hash of each secret) and idempotency records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from errand.db.engine import AwareDateTime, Base
from errand.runs.models import utcnow

SERVER_REVISION = "6a1b2c3d4e5f"
"""The migration that created these tables."""


class ApiKeyRow(Base):
    """One API key: whose it is, its limits, and the tokens it has used."""

    __tablename__ = "api_keys"
    __table_args__ = ({"info": {"since": SERVER_REVISION}},)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    """Public id of the key (shown by ``errand keys list``, part of the key itself)."""
    user: Mapped[str] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the whole key, hex: keys are random and long, so a fast hash is enough."""
    rpm: Mapped[int] = mapped_column(Integer)
    """Requests per minute."""
    max_runs: Mapped[int] = mapped_column(Integer)
    """Runs and chat completions in flight at once."""
    budget: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """Most tokens (prompt plus completion) over the key's life; None: unlimited."""
    tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(AwareDateTime, nullable=True)


class IdempotencyRow(Base):
    """The first response to a request sent with an ``Idempotency-Key``, replayed to repeats."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user", "key"), {"info": {"since": SERVER_REVISION}})

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of method, path and body: the same key with another request is refused."""
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The response's status; None while the first request is still running."""
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, index=True)
