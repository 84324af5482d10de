"""`top_up`: money into a user's wallet, from the funding account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from errand.services.wallet.accounts import (
    _by_key,
    _conflict,
    _ensure_account,
    _key,
    _lock_account,
    _move,
    _record,
    _run_once,
)
from errand.services.wallet.money import _check_amount, _currency
from errand.services.wallet.results import TopUp

FUNDING = "funding"
"""Owner of the system account that top-ups come from; its balance is minus all money issued."""


def top_up(
    session: Session,
    *,
    user: str,
    amount: int,
    currency: str,
    memo: str = "Top-up",
    idempotency_key: str = "",
    at: datetime,
) -> TopUp:
    """Add money to ``user``'s wallet from the funding account at ``at`` (creates the account if needed)."""
    _check_amount(amount)
    currency = _currency(currency)
    key = _key(idempotency_key)
    account = _lock_account(session, user, "user", currency)
    done = _by_key(session, key)
    if done is not None:
        if (done.kind, done.user, done.amount, done.currency) != ("topup", user, amount, currency):
            raise _conflict(done)
        return TopUp(id=done.ref, amount=done.amount, currency=done.currency, replayed=True)

    def body() -> int:
        acc = account if account is not None else _ensure_account(session, user, "user", currency)
        fund = _ensure_account(session, FUNDING, "system", currency)
        _move(session, acc, amount, guard=False)
        # the funding account's side is an entry only (see `pay`)
        return _record(
            session,
            kind="topup",
            user=user,
            counterparty=FUNDING,
            amount=amount,
            currency=currency,
            memo=memo,
            key=key,
            legs=[(fund, -amount), (acc, amount)],
            at=at,
        )

    tid = _run_once(session, key, body)
    if tid is None:
        return top_up(
            session, user=user, amount=amount, currency=currency, memo=memo, idempotency_key=key or "", at=at
        )
    return TopUp(id=f"TOP-{tid:06d}", amount=amount, currency=currency)
