"""What the wallet refuses: every error is a `WalletError`, raised with nothing changed."""

from __future__ import annotations

from errand.errors import ServiceError


class WalletError(ServiceError):
    """The wallet refused an operation; nothing changed."""


class InsufficientFunds(WalletError):
    """The user's balance does not cover the payment."""


class SpendingLimitExceeded(WalletError):
    """The payment would take the user past their daily spending limit."""


class RefundNotAllowed(WalletError):
    """The refund names no payment, or asks for more than is left to refund."""


class IdempotencyConflict(WalletError):
    """The idempotency key was already used for a different operation."""
