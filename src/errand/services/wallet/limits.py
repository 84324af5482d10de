"""Daily spending limits: set one, read what is left today, count a payment against it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from errand.services.clock import local_day
from errand.services.wallet.errors import SpendingLimitExceeded, WalletError
from errand.services.wallet.models import SpendingLimit
from errand.services.wallet.money import _currency, money_text


def _use_limit(session: Session, user: str, amount: int, currency: str, today: date) -> None:
    """Count ``amount`` against ``today``'s limit, or raise `SpendingLimitExceeded` (no limit set: no-op)."""
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
    over = _over_limit(session, user, amount, currency, today)
    if over is not None:
        raise over


def _over_limit(
    session: Session, user: str, amount: int, currency: str, today: date
) -> SpendingLimitExceeded | None:
    """The error for ``amount`` going over ``user``'s limit on ``today`` (None if they have no limit)."""
    row = session.execute(
        select(SpendingLimit.daily_limit, SpendingLimit.day, SpendingLimit.spent).where(
            SpendingLimit.user == user, SpendingLimit.currency == currency
        )
    ).first()
    if row is None:
        return None
    limit, day, spent = int(row[0]), row[1], int(row[2])
    spent = spent if day == today else 0
    left = max(limit - spent, 0)
    return SpendingLimitExceeded(
        f"Over the daily spending limit: {user} may pay {money_text(limit, currency)} a day, has paid "
        f"{money_text(spent, currency)} today, so {money_text(left, currency)} is left and this payment is "
        f"{money_text(amount, currency)}. Ask the user to raise the limit, or pay less (or tomorrow)."
    )


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


def daily_limits(session: Session, user: str, *, at: datetime) -> dict[str, tuple[int, int]]:
    """``user``'s limits by currency: (daily limit, spent on the day of ``at``), minor units."""
    today = local_day(at)
    rows = session.execute(
        select(SpendingLimit.currency, SpendingLimit.daily_limit, SpendingLimit.day, SpendingLimit.spent)
        .where(SpendingLimit.user == user)
        .order_by(SpendingLimit.currency)
    ).all()
    return {str(c): (int(lim), int(sp) if d == today else 0) for c, lim, d, sp in rows}
