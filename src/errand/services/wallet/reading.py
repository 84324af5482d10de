"""Reading a wallet: balances, the payment method, a confirmation's payment line, the history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from errand.services.wallet.models import Account, LedgerTransaction, PaymentMethod
from errand.services.wallet.money import _currency, money_text
from errand.services.wallet.results import HistoryItem
from errand.tools import ToolContext


def balance(session: Session, user: str, currency: str) -> int:
    """``user``'s balance in ``currency``, minor units (0 when they have no such account)."""
    got = session.scalar(
        select(Account.balance).where(
            Account.owner == user, Account.kind == "user", Account.currency == _currency(currency)
        )
    )
    return int(got or 0)


def balances(session: Session, user: str) -> dict[str, int]:
    """Every balance ``user`` holds, by currency (minor units)."""
    rows = session.execute(
        select(Account.currency, Account.balance)
        .where(Account.owner == user, Account.kind == "user")
        .order_by(Account.currency)
    ).all()
    return {str(c): int(b) for c, b in rows}


def payment_method(session: Session, user: str) -> str:
    """Label of ``user``'s default payment method (``Wallet balance`` when none is set)."""
    label = session.scalar(
        select(PaymentMethod.label)
        .where(PaymentMethod.user == user)
        .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)
        .limit(1)
    )
    return str(label or "Wallet balance")


def describe_payment(
    session: Session, user: str, amount: int, currency: str, *, quote_to: ToolContext | None = None
) -> str:
    """One line for a confirmation: amount, account and what is available.

    ``"1,280.00 CNY from local's Wallet balance (50,000.00 CNY available)"``. With
    ``quote_to``, the amount is also recorded on that tool context, for approval policies.
    """
    if quote_to is not None:
        quote_to.quote = (amount, currency.upper())
    have = balance(session, user, currency)
    return (
        f"{money_text(amount, currency)} from {user}'s {payment_method(session, user)} "
        f"({money_text(have, currency)} available)"
    )


def history(
    session: Session,
    user: str,
    limit: int = 10,
    *,
    kind: str | None = None,
    currency: str | None = None,
    counterparty: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[HistoryItem]:
    """``user``'s latest transactions, newest first; only of one ``kind`` (``payment``,
    ``refund``, ``topup``), ``currency``, ``counterparty`` (or one under it: ``food`` is
    ``food:SH-R013``), or made in [``since``, ``until``), where given."""
    conds = [LedgerTransaction.user == user]
    if since is not None:
        conds.append(LedgerTransaction.created_at >= since)
    if until is not None:
        conds.append(LedgerTransaction.created_at < until)
    if kind is not None:
        conds.append(LedgerTransaction.kind == kind)
    if currency is not None:
        conds.append(LedgerTransaction.currency == _currency(currency))
    if counterparty is not None:
        conds.append(
            (LedgerTransaction.counterparty == counterparty)
            | LedgerTransaction.counterparty.startswith(f"{counterparty}:", autoescape=True)
        )
    rows = session.scalars(
        select(LedgerTransaction)
        .where(*conds)
        .order_by(LedgerTransaction.id.desc())
        .limit(max(limit, 0))
        .execution_options(populate_existing=True)
    ).all()
    return [
        HistoryItem(
            id=t.ref,
            kind=t.kind,
            amount=-t.amount if t.kind == "payment" else t.amount,
            currency=t.currency,
            counterparty=t.counterparty,
            memo=t.memo,
            created_at=t.created_at,
            refunded=t.refunded,
        )
        for t in rows
    ]
