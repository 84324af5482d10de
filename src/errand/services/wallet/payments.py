"""Paying: `pay` debits the user and credits the merchant in the caller's transaction; on
PostgreSQL a booking's database function can take the payment's arguments instead
(`payment_arguments`) and have its refusal worded here (`refusal`, `payment_conflict`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, Table, bindparam, exists, select, text, update
from sqlalchemy.orm import Session

from errand.db.engine import insert_unless_taken
from errand.services.clock import local_day, utc_time
from errand.services.wallet.accounts import _by_key, _conflict, _ensure_account, _key
from errand.services.wallet.errors import IdempotencyConflict, InsufficientFunds, WalletError
from errand.services.wallet.limits import _over_limit, _use_limit
from errand.services.wallet.models import Account, Entry, LedgerTransaction, SpendingLimit
from errand.services.wallet.money import _check_amount, _currency, money_text
from errand.services.wallet.results import Payment

# ---- the payment's statements, built once ---------------------------------------------------
# Core statements on the tables (no ORM unit of work) with bound parameters, built and compiled
# once: a payment costs one round trip on PostgreSQL (`_PAY_IN_ONE`) and three elsewhere (claim
# the key, debit, write both legs), plus one for a payer with a daily limit, and little Python.

_ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
_TRANSACTIONS: Table = LedgerTransaction.__table__  # type: ignore[assignment]
_LIMITS: Table = SpendingLimit.__table__  # type: ignore[assignment]


def _debit_statement() -> Any:
    """Debit the payer if the balance covers it; return its account, the merchant's and whether a limit applies."""
    acc, shop = _ACCOUNTS, _ACCOUNTS.alias("shop")
    merchant = (
        select(shop.c.id)
        .where(shop.c.owner == bindparam("p_merchant"), shop.c.kind == "merchant")
        .where(shop.c.currency == bindparam("p_currency"))
        .scalar_subquery()
    )
    limited = exists().where(
        _LIMITS.c.user == bindparam("p_user"), _LIMITS.c.currency == bindparam("p_currency")
    )
    return (
        update(acc)
        .where(
            acc.c.owner == bindparam("p_user"),
            acc.c.kind == "user",
            acc.c.currency == bindparam("p_currency"),
        )
        .where(acc.c.balance >= bindparam("p_amount", type_=BigInteger))
        .values(balance=acc.c.balance - bindparam("p_amount", type_=BigInteger))
        .returning(acc.c.id, merchant, limited)
    )


_DEBIT = _debit_statement()
_LEGS = text(
    f"INSERT INTO {Entry.__tablename__} (transaction_id, account_id, amount, currency) "
    "VALUES (:e_tid, :e_debit, :e_debit_amount, :e_currency), (:e_tid, :e_credit, :e_credit_amount, :e_currency)"
).bindparams(
    bindparam("e_tid", type_=Integer),
    bindparam("e_debit", type_=Integer),
    bindparam("e_credit", type_=Integer),
    bindparam("e_debit_amount", type_=BigInteger),
    bindparam("e_credit_amount", type_=BigInteger),
    bindparam("e_currency", type_=String),
)
"""Both legs of a payment in one statement (a text statement: SQLAlchemy compiles a multi-row
VALUES built from bound parameters on every call, a text one once)."""
_PAY_IN_ONE = text(
    f"""
    WITH claim AS (
        INSERT INTO {LedgerTransaction.__tablename__}
            (kind, "user", counterparty, amount, currency, memo, idempotency_key, original_id, refunded, created_at)
        VALUES ('payment', :p_user, :p_merchant, :p_amount, :p_currency, :p_memo, :p_key, NULL, 0, :p_at)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
    ), debit AS (
        UPDATE {Account.__tablename__} SET balance = balance - :p_amount
        WHERE owner = :p_user AND kind = 'user' AND currency = :p_currency AND balance >= :p_amount
          AND EXISTS (SELECT 1 FROM claim)
        RETURNING id
    ), legs AS (
        INSERT INTO {Entry.__tablename__} (transaction_id, account_id, amount, currency)
        SELECT claim.id, debit.id, -:p_amount, :p_currency FROM claim, debit
        UNION ALL
        SELECT claim.id, shop.id, :p_amount, :p_currency FROM claim, debit, {Account.__tablename__} AS shop
        WHERE shop.owner = :p_merchant AND shop.kind = 'merchant' AND shop.currency = :p_currency
        RETURNING account_id
    )
    SELECT (SELECT id FROM claim) AS tid, (SELECT id FROM debit) AS account, (SELECT count(*) FROM legs) AS legs,
        EXISTS (SELECT 1 FROM {SpendingLimit.__tablename__} WHERE "user" = :p_user AND currency = :p_currency)
            AS limited
    """
).bindparams(
    bindparam("p_user", type_=String),
    bindparam("p_merchant", type_=String),
    bindparam("p_amount", type_=BigInteger),
    bindparam("p_currency", type_=String),
    bindparam("p_memo", type_=String),
    bindparam("p_key", type_=String),
    bindparam("p_at", type_=DateTime),
)
"""PostgreSQL: a whole payment in one round trip. Claim the key (a taken key writes nothing and
returns no ``tid``), debit the payer only if the claim went in and the balance covers it, write
both legs only if the debit went through (the merchant's only if its account exists), and say
whether a daily limit applies. A short outcome is an error the savepoint rolls back."""
_CREDIT_LEG = text(
    f"INSERT INTO {Entry.__tablename__} (transaction_id, account_id, amount, currency) "
    "VALUES (:e_tid, :e_credit, :e_credit_amount, :e_currency)"
).bindparams(
    bindparam("e_tid", type_=Integer),
    bindparam("e_credit", type_=Integer),
    bindparam("e_credit_amount", type_=BigInteger),
    bindparam("e_currency", type_=String),
)


# ---- paying ----------------------------------------------------------------------------------


def pay(
    session: Session,
    *,
    user: str,
    amount: int,
    currency: str,
    merchant: str,
    memo: str,
    idempotency_key: str,
    at: datetime,
    savepoint: bool = True,
) -> Payment:
    """Pay ``amount`` minor units from ``user``'s wallet to ``merchant`` (e.g. ``travel:flights``).

    Debits the user, credits the merchant, in the caller's transaction. ``at`` (time-zone
    aware) dates the payment and says which day's spending limit it counts against. The same
    ``idempotency_key`` again returns the first payment with ``replayed=True`` (a
    different payment under that key raises `IdempotencyConflict`). Raises
    `InsufficientFunds` or `SpendingLimitExceeded`, changing nothing.

    ``savepoint=False`` is for a caller that already runs the payment inside a savepoint of
    its own (a booking that takes a seat, then pays): it saves two round trips, and an error
    then leaves partial writes that the caller's savepoint (or transaction) must roll back,
    as it does when the exception passes through it. A replay writes nothing either way.
    """
    _check_amount(amount)
    currency = _currency(currency)
    key = _key(idempotency_key)
    if not merchant.strip():
        raise WalletError("A payment needs a merchant name (such as 'travel:flights').")
    if not savepoint:
        return _pay(session, user, amount, currency, merchant, memo, key, at)
    with session.begin_nested():
        return _pay(session, user, amount, currency, merchant, memo, key, at)


def _pay(
    session: Session,
    user: str,
    amount: int,
    currency: str,
    merchant: str,
    memo: str,
    key: str | None,
    at: datetime,
) -> Payment:
    """`pay` without its savepoint: claim the key, debit the user, write both legs."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _pay_in_one(session, user, amount, currency, merchant, memo, key, at)
    tid = insert_unless_taken(
        conn,
        _TRANSACTIONS,
        "idempotency_key",
        {
            "kind": "payment",
            "user": user,
            "counterparty": merchant,
            "amount": amount,
            "currency": currency,
            "memo": memo[:200],
            "idempotency_key": key,
            "original_id": None,
            "refunded": 0,
            "created_at": utc_time(at),
        },
    )
    if tid is None:  # the key paid before (or a racing call just did): nothing was written
        return _replayed_payment(session, user, amount, currency, merchant, key)
    row = conn.execute(
        _DEBIT, {"p_user": user, "p_currency": currency, "p_amount": amount, "p_merchant": merchant}
    ).first()
    if row is None:
        raise _insufficient(session, user, amount, currency)
    account, shop, limited = int(row[0]), row[1], bool(row[2])
    if limited:
        _use_limit(session, user, amount, currency, local_day(at))
    # The merchant's side is an entry only: its balance is the sum of its entries, so no shared
    # balance row is locked and payments to one merchant do not queue behind each other.
    if shop is None:
        shop = _ensure_account(session, merchant, "merchant", currency)
    legs = {"e_debit": account, "e_debit_amount": -amount, "e_credit": int(shop), "e_credit_amount": amount}
    conn.execute(_LEGS, {"e_tid": tid, "e_currency": currency, **legs})
    return Payment(id=f"PAY-{tid:06d}", amount=amount, currency=currency)


def _pay_in_one(
    session: Session,
    user: str,
    amount: int,
    currency: str,
    merchant: str,
    memo: str,
    key: str | None,
    at: datetime,
) -> Payment:
    """`_pay` on PostgreSQL: one statement (`_PAY_IN_ONE`), then the rare follow-ups it asks for."""
    row = (
        session.connection()
        .execute(
            _PAY_IN_ONE,
            {
                "p_user": user,
                "p_merchant": merchant,
                "p_amount": amount,
                "p_currency": currency,
                "p_memo": memo[:200],
                "p_key": key,
                "p_at": utc_time(at),
            },
        )
        .one()
    )
    if row.tid is None:  # the key paid before (or a racing call just did): nothing was written
        return _replayed_payment(session, user, amount, currency, merchant, key)
    if row.account is None:
        raise _insufficient(session, user, amount, currency)
    if row.limited:
        _use_limit(session, user, amount, currency, local_day(at))
    if row.legs == 1:  # the merchant has no account yet: open it and write its leg
        shop = _ensure_account(session, merchant, "merchant", currency)
        session.connection().execute(
            _CREDIT_LEG,
            {"e_tid": row.tid, "e_credit": shop, "e_credit_amount": amount, "e_currency": currency},
        )
    return Payment(id=f"PAY-{row.tid:06d}", amount=amount, currency=currency)


def _replayed_payment(
    session: Session, user: str, amount: int, currency: str, merchant: str, key: str | None
) -> Payment:
    """The payment already made under ``key``, if it is this payment (else `IdempotencyConflict`)."""
    done = _by_key(session, key)
    assert done is not None
    if not _same_payment(done, user, amount, currency, merchant):
        raise _conflict(done)
    return Payment(id=done.ref, amount=done.amount, currency=done.currency, replayed=True)


def _same_payment(done: LedgerTransaction, user: str, amount: int, currency: str, merchant: str) -> bool:
    return (done.kind, done.user, done.counterparty, done.amount, done.currency) == (
        "payment",
        user,
        merchant,
        amount,
        currency,
    )


def _insufficient(session: Session, user: str, amount: int, currency: str) -> InsufficientFunds:
    """The error for a debit that did not go through: no account in ``currency``, or too little in it."""
    have = session.scalar(
        select(Account.balance).where(
            Account.owner == user, Account.kind == "user", Account.currency == currency
        )
    )
    if have is None:
        return InsufficientFunds(
            f"{user} has no {currency} balance, so cannot pay {money_text(amount, currency)}. "
            f"Top up the wallet in {currency} or pay in a currency the wallet holds."
        )
    return InsufficientFunds(
        f"Insufficient funds: the payment is {money_text(amount, currency)} but {user}'s balance is "
        f"{money_text(int(have), currency)} (short by {money_text(amount - int(have), currency)}). "
        "Top up the wallet or choose something cheaper."
    )


# ---- payments made inside a database function (PostgreSQL) ---------------------------------


def payment_arguments(
    *, user: str, amount: int, currency: str, merchant: str, memo: str, idempotency_key: str, at: datetime
) -> dict[str, Any]:
    """The payment half of a database function's arguments (``p_user`` ... ``p_today``).

    For a booking whose writes run in one server-side function (PostgreSQL's
    ``errand_book_seats``): the payment is checked and normalised exactly as `pay` does it, and
    ``at`` gives its time and the day the spending limit counts, as in `pay`.
    """
    _check_amount(amount)
    if not merchant.strip():
        raise WalletError("A payment needs a merchant name (such as 'travel:flights').")
    return {
        "p_user": user,
        "p_merchant": merchant,
        "p_amount": amount,
        "p_currency": _currency(currency),
        "p_memo": memo[:200],
        "p_pay_key": _key(idempotency_key),
        "p_paid_at": utc_time(at),
        "p_today": local_day(at),
    }


def refusal(
    session: Session, outcome: str, *, user: str, amount: int, currency: str, at: datetime
) -> WalletError:
    """The error a database function's refused payment (made at ``at``) gets (``insufficient`` or
    ``over_limit``), worded as `pay` words it."""
    if outcome == "insufficient":
        return _insufficient(session, user, amount, currency)
    over = _over_limit(session, user, amount, currency, local_day(at)) if outcome == "over_limit" else None
    if over is None:
        raise ValueError(f"not a payment refusal: {outcome!r}")
    return over


def payment_conflict(
    session: Session, *, user: str, amount: int, currency: str, merchant: str, idempotency_key: str
) -> IdempotencyConflict | None:
    """The error for ``idempotency_key`` having paid for another payment than this one (None when
    it paid for this one, or for nothing)."""
    done = _by_key(session, _key(idempotency_key))
    if done is None or _same_payment(done, user, amount, _currency(currency), merchant):
        return None
    return _conflict(done)
