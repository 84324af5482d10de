"""The ledger's soundness: entries that sum to zero, balances that match them, no over-refund."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errand.services.wallet.models import Account, Entry, LedgerTransaction


def ledger_sum(session: Session) -> dict[str, int]:
    """Sum of all ledger entries per currency; every value is 0 in a sound ledger."""
    rows = session.execute(select(Entry.currency, func.sum(Entry.amount)).group_by(Entry.currency)).all()
    return {str(c): int(s or 0) for c, s in rows}


def ledger_problems(session: Session) -> list[str]:
    """Everything wrong with the ledger (empty when sound): unbalanced transactions, stale balances,
    negative user balances, over-refunded payments."""
    problems: list[str] = []
    for cur, total in ledger_sum(session).items():
        if total:
            problems.append(f"entries in {cur} sum to {total}, not 0")
    unbalanced = session.execute(
        select(Entry.transaction_id, func.sum(Entry.amount))
        .group_by(Entry.transaction_id)
        .having(func.sum(Entry.amount) != 0)
    ).all()
    problems += [f"transaction {tid} entries sum to {s}" for tid, s in unbalanced]
    sums = dict(
        session.execute(select(Entry.account_id, func.sum(Entry.amount)).group_by(Entry.account_id)).all()
    )
    for acc in session.scalars(select(Account).execution_options(populate_existing=True)).all():
        expected = int(sums.get(acc.id) or 0)
        if acc.kind != "user":  # merchant and system balances are their entries (no balance row kept)
            if acc.kind == "merchant" and expected < 0:
                problems.append(f"account {acc.owner}/{acc.currency} is negative: {expected}")
            continue
        got = acc.balance
        if got != expected:
            problems.append(f"account {acc.owner}/{acc.currency} balance {got} != entries {expected}")
        if got < 0:
            problems.append(f"account {acc.owner}/{acc.currency} is negative: {got}")
    refunds = dict(
        session.execute(
            select(LedgerTransaction.original_id, func.sum(LedgerTransaction.amount))
            .where(LedgerTransaction.kind == "refund")
            .group_by(LedgerTransaction.original_id)
        ).all()
    )
    payments = select(LedgerTransaction).where(LedgerTransaction.kind == "payment")
    for t in session.scalars(payments.execution_options(populate_existing=True)).all():
        given = int(refunds.get(t.id) or 0)
        if given > t.amount or given != t.refunded:
            problems.append(f"{t.ref} paid {t.amount}, refunds total {given}, recorded refunded {t.refunded}")
    return problems
