"""The steps every ledger operation is made of: accounts, balance moves, a transaction and its
entries, and its idempotency key."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from errand.services.clock import utc_time
from errand.services.wallet.errors import IdempotencyConflict
from errand.services.wallet.models import PREFIX, Account, Entry, LedgerTransaction
from errand.services.wallet.money import money_text


def _key(idempotency_key: str | None) -> str | None:
    return (idempotency_key or "").strip() or None


def _ref_to_id(ref: str, kind: str) -> int | None:
    m = re.fullmatch(r"\s*([A-Za-z]{3})-?(\d{1,12})\s*", ref)
    if not m or m.group(1).upper() != PREFIX[kind]:
        return None
    return int(m.group(2))


def _lock_account(session: Session, owner: str, kind: str, currency: str) -> int | None:
    """Take ``owner``'s account row (no-op UPDATE, waited for); its id, or None if there is none."""
    row = session.execute(
        update(Account)
        .where(Account.owner == owner, Account.kind == kind, Account.currency == currency)
        .values(balance=Account.balance)
        .returning(Account.id)
        .execution_options(synchronize_session=False)
    ).first()
    return None if row is None else int(row[0])


def _ensure_account(session: Session, owner: str, kind: str, currency: str) -> int:
    """The id of ``owner``'s account in ``currency``, created (empty) if missing; safe under races."""
    found = session.scalar(
        select(Account.id).where(Account.owner == owner, Account.kind == kind, Account.currency == currency)
    )
    if found is not None:
        return int(found)
    values = {"owner": owner, "kind": kind, "currency": currency, "balance": 0}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(Account).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(Account).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - other databases
        try:
            with session.begin_nested():
                session.execute(insert(Account).values(values))
        except IntegrityError:
            pass
    made = session.execute(
        select(Account.id).where(Account.owner == owner, Account.kind == kind, Account.currency == currency)
    ).scalar_one()
    return int(made)


def _move(session: Session, account_id: int, delta: int, *, guard: bool) -> bool:
    """Add ``delta`` to an account's balance; with ``guard``, only if it stays >= 0. Whether it moved."""
    stmt = update(Account).where(Account.id == account_id)
    if guard and delta < 0:
        stmt = stmt.where(Account.balance >= -delta)
    res = session.execute(
        stmt.values(balance=Account.balance + delta).execution_options(synchronize_session=False)
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


def _record(
    session: Session,
    *,
    kind: str,
    user: str,
    counterparty: str,
    amount: int,
    currency: str,
    memo: str,
    key: str | None,
    legs: list[tuple[int, int]],
    at: datetime,
    original_id: int | None = None,
) -> int:
    """Insert the transaction and its entries (``legs``: account id, signed amount; they sum to 0),
    dated ``at``."""
    assert sum(a for _, a in legs) == 0, legs
    tid = session.execute(
        insert(LedgerTransaction)
        .values(
            kind=kind,
            user=user,
            counterparty=counterparty,
            amount=amount,
            currency=currency,
            memo=memo[:200],
            idempotency_key=key,
            original_id=original_id,
            refunded=0,
            created_at=utc_time(at),
        )
        .returning(LedgerTransaction.id)
    ).scalar_one()
    session.execute(
        insert(Entry),
        [{"transaction_id": tid, "account_id": acc, "amount": a, "currency": currency} for acc, a in legs],
    )
    return int(tid)


def _by_key(session: Session, key: str | None) -> LedgerTransaction | None:
    if key is None:
        return None
    row = session.execute(
        select(LedgerTransaction)
        .where(LedgerTransaction.idempotency_key == key)
        .execution_options(populate_existing=True)
    ).first()
    return None if row is None else row[0]


def _conflict(done: LedgerTransaction) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"This idempotency key was already used for {done.ref} ({done.kind} of "
        f"{money_text(done.amount, done.currency)}, {done.memo!r}); not charging again. "
        "Use a new key for a different operation."
    )


def _run_once(session: Session, key: str | None, body: Any) -> Any:
    """Run ``body()`` in a savepoint; if a racing call committed the same key first, return None."""
    try:
        with session.begin_nested():
            return body()
    except IntegrityError:
        if key is not None and _by_key(session, key) is not None:
            return None
        raise
