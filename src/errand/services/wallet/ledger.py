"""The wallet's Python API: pay, refund and top up through a double-entry ledger.

Other domains call `pay` and `refund` in the session (and database transaction) that
records their booking, so a booking and its money commit or roll back together. None of
these functions commits; each runs inside a savepoint, so an error (insufficient funds,
over the limit, a refund larger than the payment) changes nothing, even if the caller
catches it and commits. (`pay` can skip its own savepoint for a caller that already runs
it inside one: ``savepoint=False``.) What writes or counts by the day takes ``at``, the
moment it happens (time-zone aware: the caller's `ToolContext.now`); the wallet never reads
the system clock.

Concurrency: `pay` first claims its idempotency key (``INSERT ... ON CONFLICT DO
NOTHING``: a racing call with the same key waits for the first to finish, then replays it)
and then debits the payer with one conditional ``UPDATE ... WHERE balance >= :a``, which
also takes the account row (a row lock on PostgreSQL; SQLite has one writer anyway).
`refund` and `top_up` take the account row first with a no-op ``UPDATE``. Balances and
refunded amounts change only through conditional ``UPDATE``s, and CHECK constraints forbid
a negative user balance or an over-refund.

This module is the API's one door; each part lives in the module of its job: `payments`,
`refunds`, `top_ups`, `limits` (daily spending limits), `reading` (balances, history),
`audit` (`ledger_problems`), `money` (minor units and their text), `errors`, `results`,
and `accounts` (the steps every operation is made of).
"""

from __future__ import annotations

from errand.services.wallet.audit import ledger_problems, ledger_sum
from errand.services.wallet.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    RefundNotAllowed,
    SpendingLimitExceeded,
    WalletError,
)
from errand.services.wallet.limits import daily_limits, set_daily_limit
from errand.services.wallet.money import money_text, to_minor
from errand.services.wallet.payments import pay, payment_arguments, payment_conflict, refusal
from errand.services.wallet.reading import balance, balances, describe_payment, history, payment_method
from errand.services.wallet.refunds import refund
from errand.services.wallet.results import HistoryItem, Payment, Refund, TopUp
from errand.services.wallet.top_ups import FUNDING, top_up

__all__ = [
    "FUNDING",
    "HistoryItem",
    "IdempotencyConflict",
    "InsufficientFunds",
    "Payment",
    "Refund",
    "RefundNotAllowed",
    "SpendingLimitExceeded",
    "TopUp",
    "WalletError",
    "balance",
    "balances",
    "daily_limits",
    "describe_payment",
    "history",
    "ledger_problems",
    "ledger_sum",
    "money_text",
    "pay",
    "payment_arguments",
    "payment_conflict",
    "payment_method",
    "refund",
    "refusal",
    "set_daily_limit",
    "to_minor",
    "top_up",
]
