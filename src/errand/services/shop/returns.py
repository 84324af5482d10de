"""After the sale: cancel a pending order, return or exchange a delivered one within its window."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.clock import utc_time
from errand.services.shop.common import (
    _account,
    _changed,
    _label,
    _money,
    _order,
    _order_ref,
    _return_by,
    _session,
    _status,
    _variant,
)
from errand.services.shop.idempotency import _idempotent
from errand.services.shop.models import Order, Product
from errand.services.shop.orders import _summary
from errand.services.shop.payments import _charge, _paid, _refund
from errand.services.shop.stock import _put_back, _take_stock
from errand.tools import FromResults, ToolContext, tool


def _close(session: Session, o: Order, state: str, now: datetime, reason: str | None) -> None:
    """Move a placed order to ``state``; refuse if a concurrent call changed it first."""
    moved = session.execute(
        update(Order)
        .where(Order.id == o.id, Order.state == "placed", Order.variant_id == o.variant_id)
        .values(state=state, closed_at=now, reason=reason)
        .execution_options(synchronize_session=False)
    )
    if not _changed(moved):
        raise ToolError(f"{_order_ref(o.id)} changed meanwhile; check shop_order_status and try again.")


def _cancel_text(args: dict[str, Any], ctx: ToolContext) -> str:
    s = _session(ctx)
    o = _order(s, str(args.get("order_id")), ctx.user)
    v, p = _variant(s, o.variant_id)
    return (
        f"Cancel {_order_ref(o.id)} ({o.quantity} x {p.name}, {_label(v)}) and refund "
        f"{_money(_paid(s, o.id), o.currency)} to the {_account(ctx.user, o.currency)}"
    )


@tool(domain="shop", risk="write", confirm_text=_cancel_text)
def cancel_shop_order(
    ctx: ToolContext, order_id: Annotated[str, FromResults("order_id", shape=r"SO-\d{6}")]
) -> dict[str, Any]:
    """Cancel a pending order and get a full refund (needs the user's confirmation).

    Args:
        order_id: Id like SO-000042.
    """
    session = _session(ctx)
    o = _order(session, order_id, ctx.user)

    def act(s: Session, key: str) -> dict[str, Any]:
        at = ctx.now()
        now = utc_time(at)
        status = _status(o, now)
        if status != "pending":
            hint = " Use return_item once it is delivered." if status == "shipped" else ""
            raise ToolError(f"{_order_ref(o.id)} is {status}; only pending orders can be cancelled.{hint}")
        _close(s, o, "cancelled", now, None)
        _put_back(s, o.variant_id, o.quantity)
        refunded = _refund(s, o, None, f"{_order_ref(o.id)} cancelled", f"{key}:refund", at)
        return {
            "order_id": _order_ref(o.id),
            "status": "cancelled",
            "refunded_text": _money(refunded, o.currency),
            "refunded_to": _account(ctx.user, o.currency),
        }

    return _idempotent(ctx, "cancel_shop_order", {"order_id": _order_ref(o.id)}, act)


def _check_window(o: Order, p: Product, now: datetime, doing: str) -> None:
    status = _status(o, now)
    if status in ("pending", "shipped"):
        extra = " Cancel it instead with cancel_shop_order." if status == "pending" else ""
        raise ToolError(f"{_order_ref(o.id)} is {status}; only delivered orders can be {doing}.{extra}")
    if status != "delivered":
        raise ToolError(f"{_order_ref(o.id)} is already {status}.")
    if now > _return_by(o, p):
        raise ToolError(
            f"The {p.return_days}-day return window of {_order_ref(o.id)} closed on "
            f"{_return_by(o, p).date().isoformat()}; it can no longer be {doing}."
        )


def _return_text(args: dict[str, Any], ctx: ToolContext) -> str:
    s = _session(ctx)
    o = _order(s, str(args.get("order_id")), ctx.user)
    v, p = _variant(s, o.variant_id)
    return (
        f"Return {_order_ref(o.id)} ({o.quantity} x {p.name}, {_label(v)}) and refund "
        f"{_money(_paid(s, o.id), o.currency)} to the {_account(ctx.user, o.currency)}"
    )


@tool(domain="shop", risk="write", confirm_text=_return_text)
def return_item(
    ctx: ToolContext, order_id: Annotated[str, FromResults("order_id", shape=r"SO-\d{6}")], reason: str
) -> dict[str, Any]:
    """Return a delivered order within its return window for a full refund (needs confirmation).

    Args:
        order_id: Id like SO-000042.
        reason: Why, in a few words.
    """
    session = _session(ctx)
    o = _order(session, order_id, ctx.user)
    reason = reason.strip()[:200]
    if not reason:
        raise ToolError("reason is missing: say in a few words why the item goes back.")
    p = session.get(Product, o.product_id)
    assert p is not None

    def act(s: Session, key: str) -> dict[str, Any]:
        at = ctx.now()
        now = utc_time(at)
        _check_window(o, p, now, "returned")
        _close(s, o, "returned", now, reason)
        _put_back(s, o.variant_id, o.quantity)
        refunded = _refund(s, o, None, f"{_order_ref(o.id)} returned: {reason}", f"{key}:refund", at)
        return {
            "order_id": _order_ref(o.id),
            "status": "returned",
            "refunded_text": _money(refunded, o.currency),
            "refunded_to": _account(ctx.user, o.currency),
        }

    return _idempotent(ctx, "return_item", {"order_id": _order_ref(o.id), "reason": reason}, act)


def _exchange_text(args: dict[str, Any], ctx: ToolContext) -> str:
    s = _session(ctx)
    o = _order(s, str(args.get("order_id")), ctx.user)
    old, p = _variant(s, o.variant_id)
    new, _ = _variant(s, str(args.get("new_variant_id")))
    diff = (new.price - o.unit_price) * o.quantity
    money = (
        f"pay {_money(diff, o.currency)} more from"
        if diff > 0
        else f"get {_money(-diff, o.currency)} back to"
        if diff < 0
        else "no price difference for"
    )
    return (
        f"Exchange {_order_ref(o.id)} ({o.quantity} x {p.name}) from {_label(old)} to {_label(new)} "
        f"({new.id}); {money} the {_account(ctx.user, o.currency)}"
    )


@tool(domain="shop", risk="write", confirm_text=_exchange_text)
def exchange_item(
    ctx: ToolContext,
    order_id: Annotated[str, FromResults("order_id", shape=r"SO-\d{6}")],
    new_variant_id: Annotated[str, FromResults("variant_id", shape=r"V-\d{6}")],
) -> dict[str, Any]:
    """Swap a delivered item for another size or colour of the same product (needs confirmation).

    Args:
        order_id: Id like SO-000042.
        new_variant_id: Variant wanted instead, from get_product.
    """
    session = _session(ctx)
    o = _order(session, order_id, ctx.user)
    new, p = _variant(session, new_variant_id)
    if new.product_id != o.product_id:
        raise ToolError(
            f"{new.id} is a variant of another product ({p.name}); exchanges stay within "
            f"{o.product_id}. Return this order with return_item and place a new order instead."
        )

    def act(s: Session, key: str) -> dict[str, Any]:
        at = ctx.now()
        now = utc_time(at)
        old_id, old_price = o.variant_id, o.unit_price
        if new.id == old_id:
            raise ToolError(f"{_order_ref(o.id)} already has {new.id}; pick a different size or colour.")
        _check_window(o, p, now, "exchanged")
        moved = s.execute(
            update(Order)
            .where(Order.id == o.id, Order.state == "placed", Order.variant_id == old_id)
            .values(variant_id=new.id, unit_price=new.price)
            .execution_options(synchronize_session=False)
        )
        if not _changed(moved):
            raise ToolError(f"{_order_ref(o.id)} changed meanwhile; check shop_order_status and try again.")
        # Touch the two variant rows in id order, so crossing exchanges cannot deadlock.
        if new.id < old_id:
            _take_stock(s, new, p, o.quantity)
            _put_back(s, old_id, o.quantity)
        else:
            _put_back(s, old_id, o.quantity)
            _take_stock(s, new, p, o.quantity)
        diff = (new.price - old_price) * o.quantity
        memo = f"{_order_ref(o.id)} exchanged to {new.id}"
        if diff > 0:
            _charge(s, o, ctx.user, diff, memo, key, at)
        elif diff < 0:
            _refund(s, o, -diff, memo, f"{key}:refund", at)
        s.refresh(o)
        return _summary(s, o, p, new, now) | {
            "exchanged_from": old_id,
            "difference_text": _money(diff, o.currency),
            "account": _account(ctx.user, o.currency),
        }

    args = {"order_id": _order_ref(o.id), "new_variant_id": new.id}
    return _idempotent(ctx, "exchange_item", args, act)
