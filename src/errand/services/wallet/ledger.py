"""The wallet's Python API: pay, refund and top up through a double-entry ledger.

Other domains call `pay` and `refund` in the session (and database transaction) that
records their booking, so a booking and its money commit or roll back together. None of
these functions commits; each runs inside a savepoint, so an error (insufficient funds,
over the limit, a refund larger than the payment) changes nothing, even if the caller
catches it and commits. (`pay` can skip its own savepoint for a caller that already runs
it inside one: ``savepoint=False``.)

Concurrency: `pay` first claims its idempotency key (``INSERT ... ON CONFLICT DO
NOTHING``: a racing call with the same key waits for the first to finish, then replays it)
and then debits the payer with one conditional ``UPDATE ... WHERE balance >= :a``, which
also takes the account row (a row lock on PostgreSQL; SQLite has one writer anyway).
`refund` and `top_up` take the account row first with a no-op ``UPDATE``. Balances and
refunded amounts change only through conditional ``UPDATE``s, and CHECK constraints forbid
a negative user balance or an over-refund.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    Table,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from errand.db.engine import insert_unless_taken
from errand.errors import ServiceError
from errand.services.wallet.models import (
    PREFIX,
    Account,
    Entry,
    LedgerTransaction,
    PaymentMethod,
    SpendingLimit,
)
from errand.tools import ToolContext

FUNDING = "funding"
"""Owner of the system account that top-ups come from; its balance is minus all money issued."""
MINOR_DIGITS = {"CNY": 2, "USD": 2, "SGD": 2, "EUR": 2, "GBP": 2, "HKD": 2, "JPY": 0, "KRW": 0, "THB": 2}
"""Digits after the point per currency (2 for fen and cents)."""


# ---- errors and results -------------------------------------------------------------------


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


# ---- small helpers -------------------------------------------------------------------------


def _now() -> datetime:
    """Current UTC time without a zone (a function so tests can move the clock)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _today() -> date:
    """The day spending limits count (a function so tests can move the clock)."""
    return date.today()


def money_text(amount: int, currency: str) -> str:
    """Minor units as people read them: ``128000, "CNY"`` → ``"1,280.00 CNY"``."""
    digits = MINOR_DIGITS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**digits)
    text = f"{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
    return f"{sign}{text} {currency}"


def to_minor(units: int | float | str, currency: str) -> int:
    """Whole units (``1280`` or ``"1280.50"``) to minor units, exactly (no float rounding)."""
    from decimal import Decimal, InvalidOperation

    try:
        d = Decimal(str(units))
    except InvalidOperation:
        raise ValueError(f"Not an amount: {units!r}") from None
    minor = d * (10 ** MINOR_DIGITS.get(currency, 2))
    if minor != minor.to_integral_value():
        raise ValueError(f"{units} {currency} has more decimals than the currency allows.")
    return int(minor)


def _currency(code: str) -> str:
    c = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", c):
        raise WalletError(f"Bad currency {code!r}: use a 3-letter code such as CNY, USD or SGD.")
    return c


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise WalletError(f"Amounts are whole minor units (int), got {amount!r}.")
    if amount <= 0:
        raise WalletError(f"The amount must be positive, got {amount}.")


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
    original_id: int | None = None,
) -> int:
    """Insert the transaction and its entries (``legs``: account id, signed amount; they sum to 0)."""
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
            created_at=_now(),
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
# ---- the API -------------------------------------------------------------------------------


def pay(
    session: Session,
    *,
    user: str,
    amount: int,
    currency: str,
    merchant: str,
    memo: str,
    idempotency_key: str,
    savepoint: bool = True,
) -> Payment:
    """Pay ``amount`` minor units from ``user``'s wallet to ``merchant`` (e.g. ``travel:flights``).

    Debits the user, credits the merchant, in the caller's transaction. The same
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
        return _pay(session, user, amount, currency, merchant, memo, key)
    with session.begin_nested():
        return _pay(session, user, amount, currency, merchant, memo, key)


def _pay(
    session: Session, user: str, amount: int, currency: str, merchant: str, memo: str, key: str | None
) -> Payment:
    """`pay` without its savepoint: claim the key, debit the user, write both legs."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _pay_in_one(session, user, amount, currency, merchant, memo, key)
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
            "created_at": _now(),
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
        _use_limit(session, user, amount, currency)
    # The merchant's side is an entry only: its balance is the sum of its entries, so no shared
    # balance row is locked and payments to one merchant do not queue behind each other.
    if shop is None:
        shop = _ensure_account(session, merchant, "merchant", currency)
    legs = {"e_debit": account, "e_debit_amount": -amount, "e_credit": int(shop), "e_credit_amount": amount}
    conn.execute(_LEGS, {"e_tid": tid, "e_currency": currency, **legs})
    return Payment(id=f"PAY-{tid:06d}", amount=amount, currency=currency)


def _pay_in_one(
    session: Session, user: str, amount: int, currency: str, merchant: str, memo: str, key: str | None
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
                "p_at": _now(),
            },
        )
        .one()
    )
    if row.tid is None:  # the key paid before (or a racing call just did): nothing was written
        return _replayed_payment(session, user, amount, currency, merchant, key)
    if row.account is None:
        raise _insufficient(session, user, amount, currency)
    if row.limited:
        _use_limit(session, user, amount, currency)
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


def _use_limit(session: Session, user: str, amount: int, currency: str) -> None:
    """Count ``amount`` against today's limit, or raise `SpendingLimitExceeded` (no limit set: no-op)."""
    today = _today()
    spent_today = case((SpendingLimit.day == today, SpendingLimit.spent), else_=0)
    res = session.execute(
        update(SpendingLimit)
        .where(
            SpendingLimit.user == user,
            SpendingLimit.currency == currency,
            spent_today + amount <= SpendingLimit.daily_limit,
        )
        .values(spent=spent_today + amount, day=today)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount:  # type: ignore[attr-defined]
        return
    over = _over_limit(session, user, amount, currency)
    if over is not None:
        raise over


def _over_limit(session: Session, user: str, amount: int, currency: str) -> SpendingLimitExceeded | None:
    """The error for ``amount`` going over ``user``'s daily limit (None if they have no limit)."""
    row = session.execute(
        select(SpendingLimit.daily_limit, SpendingLimit.day, SpendingLimit.spent).where(
            SpendingLimit.user == user, SpendingLimit.currency == currency
        )
    ).first()
    if row is None:
        return None
    limit, day, spent = int(row[0]), row[1], int(row[2])
    spent = spent if day == _today() else 0
    left = max(limit - spent, 0)
    return SpendingLimitExceeded(
        f"Over the daily spending limit: {user} may pay {money_text(limit, currency)} a day, has paid "
        f"{money_text(spent, currency)} today, so {money_text(left, currency)} is left and this payment is "
        f"{money_text(amount, currency)}. Ask the user to raise the limit, or pay less (or tomorrow)."
    )


# ---- payments made inside a database function (PostgreSQL) ---------------------------------


def payment_arguments(
    *, user: str, amount: int, currency: str, merchant: str, memo: str, idempotency_key: str
) -> dict[str, Any]:
    """The payment half of a database function's arguments (``p_user`` ... ``p_today``).

    For a booking whose writes run in one server-side function (PostgreSQL's
    ``errand_book_seats``): the payment is checked and normalised exactly as `pay` does it, and
    the wallet's clock gives its time and the day the spending limit counts.
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
        "p_paid_at": _now(),
        "p_today": _today(),
    }


def refusal(session: Session, outcome: str, *, user: str, amount: int, currency: str) -> WalletError:
    """The error a database function's refused payment gets (``insufficient`` or ``over_limit``),
    worded as `pay` words it."""
    if outcome == "insufficient":
        return _insufficient(session, user, amount, currency)
    over = _over_limit(session, user, amount, currency) if outcome == "over_limit" else None
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


def refund(
    session: Session,
    *,
    payment_id: str,
    amount: int | None,
    memo: str,
    idempotency_key: str,
) -> Refund:
    """Give back (part of) payment ``payment_id``: debit the merchant, credit the user.

    ``amount`` None refunds whatever is left. Refunds of one payment never add up to more
    than it (`RefundNotAllowed`). The same ``idempotency_key`` again returns the first
    refund with ``replayed=True``.
    """
    key = _key(idempotency_key)
    if amount is not None:
        _check_amount(amount)
    pid = _ref_to_id(payment_id, "payment")
    pay_row = (
        None
        if pid is None
        else session.execute(
            select(
                LedgerTransaction.kind,
                LedgerTransaction.user,
                LedgerTransaction.counterparty,
                LedgerTransaction.currency,
                LedgerTransaction.amount,
            ).where(LedgerTransaction.id == pid)
        ).first()
    )
    if pid is None or pay_row is None or pay_row[0] != "payment":
        raise RefundNotAllowed(f"No payment {payment_id!r}: payment ids look like PAY-000042.")
    user, merchant, currency, paid = str(pay_row[1]), str(pay_row[2]), str(pay_row[3]), int(pay_row[4])
    ref = f"PAY-{pid:06d}"

    def replay(done: LedgerTransaction) -> Refund:
        if done.kind != "refund" or done.original_id != pid or (amount is not None and done.amount != amount):
            raise _conflict(done)
        return Refund(id=done.ref, amount=done.amount, currency=done.currency, replayed=True, payment_id=ref)

    account = _lock_account(session, user, "user", currency)
    done = _by_key(session, key)
    if done is not None:
        return replay(done)
    if account is None:  # pragma: no cover - a payment implies the account
        raise RefundNotAllowed(f"{user} has no {currency} account to refund into.")
    refunded = int(
        session.execute(select(LedgerTransaction.refunded).where(LedgerTransaction.id == pid)).scalar_one()
    )
    left = paid - refunded
    give = left if amount is None else amount
    if give > left or give <= 0:
        raise RefundNotAllowed(
            f"{ref} paid {money_text(paid, currency)} and {money_text(refunded, currency)} is already "
            f"refunded, so at most {money_text(left, currency)} can be refunded"
            + ("." if left else ": nothing is left to refund.")
        )

    def body() -> int:
        res = session.execute(
            update(LedgerTransaction)
            .where(LedgerTransaction.id == pid, LedgerTransaction.refunded + give <= LedgerTransaction.amount)
            .values(refunded=LedgerTransaction.refunded + give)
            .execution_options(synchronize_session=False)
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            raise RefundNotAllowed(f"{ref} cannot be refunded by {money_text(give, currency)}: too much.")
        shop = _ensure_account(session, merchant, "merchant", currency)  # entries only, as in `pay`
        _move(session, account, give, guard=False)
        return _record(
            session,
            kind="refund",
            user=user,
            counterparty=merchant,
            amount=give,
            currency=currency,
            memo=memo,
            key=key,
            legs=[(shop, -give), (account, give)],
            original_id=pid,
        )

    tid = _run_once(session, key, body)
    if tid is None:
        done = _by_key(session, key)
        assert done is not None
        return replay(done)
    return Refund(id=f"REF-{tid:06d}", amount=give, currency=currency, payment_id=ref)


def top_up(
    session: Session,
    *,
    user: str,
    amount: int,
    currency: str,
    memo: str = "Top-up",
    idempotency_key: str = "",
) -> TopUp:
    """Add money to ``user``'s wallet from the funding account (creates the account if needed)."""
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
        )

    tid = _run_once(session, key, body)
    if tid is None:
        return top_up(
            session, user=user, amount=amount, currency=currency, memo=memo, idempotency_key=key or ""
        )
    return TopUp(id=f"TOP-{tid:06d}", amount=amount, currency=currency)


def set_daily_limit(session: Session, *, user: str, currency: str, amount: int | None) -> None:
    """Set (or with None remove) ``user``'s daily spending limit in ``currency``, in minor units."""
    currency = _currency(currency)
    found = session.scalar(
        select(SpendingLimit).where(SpendingLimit.user == user, SpendingLimit.currency == currency)
    )
    if amount is None:
        if found is not None:
            session.delete(found)
        session.flush()
        return
    if amount < 0:
        raise WalletError("A spending limit cannot be negative.")
    if found is None:
        session.add(SpendingLimit(user=user, currency=currency, daily_limit=amount, day=None, spent=0))
    else:
        found.daily_limit = amount
    session.flush()


# ---- reading -------------------------------------------------------------------------------


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


def daily_limits(session: Session, user: str) -> dict[str, tuple[int, int]]:
    """``user``'s limits by currency: (daily limit, spent today), minor units."""
    today = _today()
    rows = session.execute(
        select(SpendingLimit.currency, SpendingLimit.daily_limit, SpendingLimit.day, SpendingLimit.spent)
        .where(SpendingLimit.user == user)
        .order_by(SpendingLimit.currency)
    ).all()
    return {str(c): (int(lim), int(sp) if d == today else 0) for c, lim, d, sp in rows}


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


def history(session: Session, user: str, limit: int = 10) -> list[HistoryItem]:
    """``user``'s latest transactions, newest first."""
    rows = session.scalars(
        select(LedgerTransaction)
        .where(LedgerTransaction.user == user)
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
    "payment_method",
    "refund",
    "set_daily_limit",
    "to_minor",
    "top_up",
]
