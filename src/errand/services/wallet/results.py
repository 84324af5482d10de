"""What the wallet's operations answer: a payment, refund or top-up made (or replayed), a history line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Payment:
    """A payment made (or replayed) by `pay`."""

    id: str
    """``PAY-000042``."""
    amount: int
    """Minor units."""
    currency: str
    replayed: bool = False
    """True when the idempotency key had already paid: this is the first payment, nothing new was charged."""


@dataclass(frozen=True)
class Refund:
    """A refund made (or replayed) by `refund`."""

    id: str
    """``REF-000043``."""
    amount: int
    """Minor units given back."""
    currency: str
    replayed: bool = False
    payment_id: str = ""
    """The payment refunded."""


@dataclass(frozen=True)
class TopUp:
    """Money added to a wallet by `top_up`."""

    id: str
    """``TOP-000001``."""
    amount: int
    currency: str
    replayed: bool = False


@dataclass(frozen=True)
class HistoryItem:
    """One line of a user's transaction history."""

    id: str
    kind: str
    amount: int
    """Signed minor units as the user sees it: negative for payments."""
    currency: str
    counterparty: str
    memo: str
    created_at: datetime
    refunded: int
    """For payments, how much has been refunded."""
