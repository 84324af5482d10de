"""`refund`: give (part of) a payment back, never more than was paid."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from errand.services.wallet.accounts import (
    _by_key,
    _conflict,
    _ensure_account,
    _key,
    _lock_account,
    _move,
    _record,
    _ref_to_id,
    _run_once,
)
from errand.services.wallet.errors import RefundNotAllowed
from errand.services.wallet.models import LedgerTransaction
from errand.services.wallet.money import _check_amount, money_text
from errand.services.wallet.results import Refund


def refund(
    session: Session,
    *,
    payment_id: str,
    amount: int | None,
    memo: str,
    idempotency_key: str,
    at: datetime,
) -> Refund:
    """Give back (part of) payment ``payment_id`` at ``at``: debit the merchant, credit the user.

    ``amount`` None refunds whatever is left. Refunds of one payment never add up to more
    than it (`RefundNotAllowed`). The same ``idempotency_key`` again returns the first
    refund with ``replayed=True``. The refund's memo says what was paid for, after ``memo``
    (``cancel BK-000001 (flight CA1113 Beijing → Sanya 2026-12-20 economy x1)``).
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
                LedgerTransaction.memo,
            ).where(LedgerTransaction.id == pid)
        ).first()
    )
    if pid is None or pay_row is None or pay_row[0] != "payment":
        raise RefundNotAllowed(f"No payment {payment_id!r}: payment ids look like PAY-000042.")
    user, merchant, currency, paid = str(pay_row[1]), str(pay_row[2]), str(pay_row[3]), int(pay_row[4])
    ref = f"PAY-{pid:06d}"
    paid_for = str(pay_row[5] or "")
    if paid_for and paid_for not in memo:  # what is refunded, not only why (dev wl-refund-credited:
        memo = f"{memo} ({paid_for})"[:200]  # "cancel BK-000001" was not read as the Sanya flight)

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
            at=at,
            original_id=pid,
        )

    tid = _run_once(session, key, body)
    if tid is None:
        done = _by_key(session, key)
        assert done is not None
        return replay(done)
    return Refund(id=f"REF-{tid:06d}", amount=give, currency=currency, payment_id=ref)
