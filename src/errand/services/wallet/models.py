"""Wallet tables: accounts, a double-entry ledger, spending limits and payment methods.

Money is integer minor units (fen, cents) next to a currency code, in BIGINT columns.
Every ledger transaction has entries that sum to zero. A user account's ``balance`` is the
sum of its entries, kept up to date in the same database transaction (so it can be guarded
against going negative); merchant and system accounts keep no running balance (theirs is
the sum of their entries), so payments to one merchant never queue on a shared row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from errand.db.engine import Base


class Account(Base):
    """Money one owner holds in one currency: a user's wallet, a merchant's takings or the funding account."""

    __tablename__ = "wallet_accounts"
    __table_args__ = (
        UniqueConstraint("owner", "kind", "currency"),
        CheckConstraint("kind = 'system' OR balance >= 0", name="ck_wallet_accounts_balance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    """The errand user (``local``), the merchant (``travel:flights``) or ``funding``."""
    kind: Mapped[str] = mapped_column(String(10))
    """``user``, ``merchant`` or ``system``; only the system account may go below zero."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of the account."""
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    """User accounts: the sum of the account's entries, in minor units (merchant/system: unused, 0)."""


class LedgerTransaction(Base):
    """One movement of money: a payment, a refund of (part of) a payment, or a top-up."""

    __tablename__ = "wallet_transactions"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_wallet_transactions_amount"),
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="ck_wallet_transactions_refunded"),
        Index("ix_wallet_transactions_user", "user", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    """Sequence number; shown with the kind's prefix (``PAY-000042``)."""
    kind: Mapped[str] = mapped_column(String(10))
    """``payment``, ``refund`` or ``topup``."""
    user: Mapped[str] = mapped_column(String(100))
    """The errand user whose wallet paid or received the money."""
    counterparty: Mapped[str] = mapped_column(String(100))
    """The merchant paid or refunding, or ``funding`` for a top-up."""
    amount: Mapped[int] = mapped_column(BigInteger)
    """Amount moved, in minor units (always positive)."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of ``amount``."""
    memo: Mapped[str] = mapped_column(String(200))
    """What the money was for (``Flight MU5101 2026-12-20, 1 passenger``)."""
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """Key of the call that made it; the same key again returns this transaction instead of paying twice."""
    original_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_transactions.id"), index=True)
    """For a refund, the payment it reverses."""
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    """For a payment, how much of it has been refunded so far (never more than ``amount``)."""
    created_at: Mapped[datetime] = mapped_column(DateTime)
    """When it was recorded (UTC, no time zone)."""

    @property
    def ref(self) -> str:
        """The id people and tools see: ``PAY-000042``, ``REF-000043``, ``TOP-000001``."""
        return f"{PREFIX[self.kind]}-{self.id:06d}"


PREFIX = {"payment": "PAY", "refund": "REF", "topup": "TOP"}
"""Prefix of a transaction's visible id, per kind."""


class Entry(Base):
    """One leg of a transaction: a signed amount on one account. A transaction's entries sum to zero."""

    __tablename__ = "wallet_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("wallet_transactions.id"), index=True)
    """The transaction this entry belongs to."""
    account_id: Mapped[int] = mapped_column(ForeignKey("wallet_accounts.id"), index=True)
    """The account it moves money on."""
    amount: Mapped[int] = mapped_column(BigInteger)
    """Signed minor units: positive credits the account, negative debits it."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code (always the account's)."""


class SpendingLimit(Base):
    """How much a user may pay per day in one currency, and how much is spent today."""

    __tablename__ = "wallet_limits"
    __table_args__ = (
        UniqueConstraint("user", "currency"),
        CheckConstraint("spent >= 0", name="ck_wallet_limits_spent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user: Mapped[str] = mapped_column(String(100))
    """The errand user."""
    currency: Mapped[str] = mapped_column(String(3))
    """Currency the limit is in; payments in other currencies are not limited by it."""
    daily_limit: Mapped[int] = mapped_column(BigInteger)
    """Most the user may pay per day, in minor units."""
    day: Mapped[date | None] = mapped_column(Date)
    """Day ``spent`` counts; a payment on a later day starts from zero."""
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    """Paid on ``day`` so far, in minor units (refunds do not give it back)."""


class PaymentMethod(Base):
    """A way a user pays, shown on confirmations (``Wallet balance``, ``Visa ending 4242``)."""

    __tablename__ = "wallet_payment_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    user: Mapped[str] = mapped_column(String(100), index=True)
    """The errand user."""
    kind: Mapped[str] = mapped_column(String(10))
    """``balance`` (the wallet itself) or ``card`` (tops the wallet up)."""
    label: Mapped[str] = mapped_column(String(60))
    """What people see: ``Wallet balance``, ``Visa ending 4242``."""
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether payments use it unless told otherwise."""
