"""After the order: where it is by the clock (placed, preparing, dispatched, delivered), and
cancelling it, with a full refund through the wallet, before the rider leaves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from sqlalchemy import select, update

from errand.errors import ToolError
from errand.services.clock import local_time
from errand.services.food.common import _money, _order, _order_ref, _session
from errand.services.food.models import MenuItem, Order, OrderLine, Restaurant
from errand.services.wallet import ledger
from errand.tools import FromResults, ToolContext, tool

PREP_START = timedelta(minutes=2)
"""The kitchen starts cooking this long after an order is placed."""
COOK = timedelta(minutes=20)
"""A dish is cooked in the last this-long before the rider leaves (scheduled orders wait first)."""


def _status(o: Order, now: datetime) -> str:
    """Where an order is, from the clock: placed → preparing → dispatched → delivered."""
    if o.cancelled_at is not None:
        return "cancelled"
    cook_from = min(max(o.placed_at + PREP_START, o.dispatch_at - COOK), o.dispatch_at)
    if now >= o.eta:
        return "delivered"
    if now >= o.dispatch_at:
        return "dispatched"
    if now >= cook_from:
        return "preparing"
    return "placed"


@tool(domain="food")
def order_status(
    ctx: ToolContext, order_id: Annotated[str, FromResults("order_id", shape=r"FO-\d{6}")]
) -> dict[str, Any]:
    """Where an order is now: placed, preparing, dispatched, delivered or cancelled.

    Args:
        order_id: The order's id (FO- and six digits), as the user or a result gave it.
    """
    session = _session(ctx)
    o = _order(session, ctx, order_id)
    r = session.get_one(Restaurant, o.restaurant_id)
    status = _status(o, local_time(ctx.now()))
    return {
        "order_id": _order_ref(o.id),
        "restaurant": r.name,
        "status": status,
        "eta": f"{o.eta:%Y-%m-%d %H:%M}",
        "total_text": _money(o.total, o.currency),
        "can_cancel": status in ("placed", "preparing"),
    }


def _confirm_cancel(args: dict[str, Any], ctx: ToolContext) -> str:
    raw = str(args.get("order_id"))
    if ctx.session is None:
        return f"Cancel order {raw} and refund it to the wallet."
    try:
        o = _order(ctx.session, ctx, raw)
    except ToolError as exc:
        return f"Cancel order {raw}. It will be refused: {exc}"
    return (
        f"Cancel order {_order_ref(o.id)} (total {_money(o.total, o.currency)}) and refund "
        f"{_money(o.total, o.currency)} to {ctx.user}'s wallet."
    )


@tool(domain="food", risk="write", confirm_text=_confirm_cancel)
def cancel_order(
    ctx: ToolContext, order_id: Annotated[str, FromResults("order_id", shape=r"FO-\d{6}")]
) -> dict[str, Any]:
    """Cancel an order before the rider leaves, with a full refund (needs confirmation).

    Args:
        order_id: Id like FO-000042.
    """
    session = _session(ctx)
    key = ctx.idempotency_key.strip() or None
    o = _order(session, ctx, order_id)

    def result(replayed: bool) -> dict[str, Any]:
        return {
            "order_id": _order_ref(o.id),
            "status": "cancelled",
            "refund_id": o.refund_id,
            "refunded": _money(o.total, o.currency),
            "replayed": replayed,
        }

    if o.cancelled_at is not None:
        return result(replayed=True)
    at = ctx.now()
    now = local_time(at)
    if now >= o.dispatch_at:
        raise ToolError(
            f"{_order_ref(o.id)} left the kitchen at {o.dispatch_at:%H:%M} ({_status(o, now)}); "
            "it can no longer be cancelled."
        )
    with session.begin_nested():
        res = session.execute(
            update(Order)
            .where(Order.id == o.id, Order.cancelled_at.is_(None))
            .values(cancelled_at=now, cancel_key=key)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount:  # type: ignore[attr-defined]
            back = ledger.refund(
                session,
                payment_id=o.payment_id,
                amount=o.total,
                memo=f"Cancelled {_order_ref(o.id)}",
                idempotency_key=f"food:cancel:{o.id}",
                at=at,
            )
            session.execute(update(Order).where(Order.id == o.id).values(refund_id=back.id))
            for line in session.scalars(select(OrderLine).where(OrderLine.order_id == o.id)).all():
                session.execute(
                    update(MenuItem)
                    .where(MenuItem.id == line.item_id, MenuItem.stock_left.is_not(None))
                    .values(stock_left=MenuItem.stock_left + line.quantity)
                )
    replayed = not res.rowcount  # type: ignore[attr-defined]
    session.refresh(o)
    return result(replayed=replayed)
