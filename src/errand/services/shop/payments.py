"""An order's money: charges and refunds through the wallet, and what the order has cost so far."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errand.services.shop.models import Order, OrderPayment
from errand.services.wallet.ledger import pay, refund

MERCHANT = "shop"
"""Wallet merchant account that receives shop payments."""


def _payments(session: Session, order_id: int) -> list[OrderPayment]:
    return list(
        session.scalars(
            select(OrderPayment)
            .where(OrderPayment.order_id == order_id)
            .order_by(OrderPayment.id.desc())
            .execution_options(populate_existing=True)
        )
    )


def _refund(session: Session, o: Order, amount: int | None, memo: str, key: str, at: datetime) -> int:
    """Refund ``amount`` (None: everything still paid) through the wallet at ``at``, newest payment first."""
    total = 0
    for op in _payments(session, o.id):
        remaining = op.amount - op.refunded
        want = remaining if amount is None else min(remaining, amount - total)
        if want <= 0:
            continue
        refund(
            session, payment_id=op.payment_id, amount=want, memo=memo, idempotency_key=f"{key}:{op.id}", at=at
        )
        op.refunded += want
        total += want
    session.flush()
    return total


def _charge(session: Session, o: Order, user: str, amount: int, memo: str, key: str, at: datetime) -> str:
    payment = pay(
        session,
        user=user,
        amount=amount,
        currency=o.currency,
        merchant=MERCHANT,
        memo=memo,
        idempotency_key=f"{key}:pay",
        at=at,
    )
    session.add(OrderPayment(order_id=o.id, payment_id=payment.id, amount=amount, refunded=0))
    session.flush()
    return payment.id


def _paid(session: Session, order_id: int) -> int:
    """What the order has cost so far, net of refunds."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(OrderPayment.amount - OrderPayment.refunded), 0)).where(
                OrderPayment.order_id == order_id
            )
        )
        or 0
    )
