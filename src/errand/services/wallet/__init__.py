"""Wallet: balances per user and currency, a double-entry ledger, spending limits, payments and refunds.

Other domains pay through `errand.services.wallet.ledger` (``pay``, ``refund``) in
their own transaction; the wallet's tools only read.
"""

from errand.services import Domain
from errand.services.wallet.seed import is_seeded, seed
from errand.services.wallet.tools import TOOLS

DOMAIN = Domain(
    name="wallet",
    description="The user's wallet (钱包): balances per currency, daily spending limit, and the history of payments and refunds.",
    tools=TOOLS,
    seed=seed,
    is_seeded=is_seeded,
    tables=(
        "wallet_accounts",
        "wallet_transactions",
        "wallet_entries",
        "wallet_limits",
        "wallet_payment_methods",
    ),
)
"""The wallet domain as `errand.services.builtin_domains` lists it."""

__all__ = ["DOMAIN"]
