"""Placing an order and following it: `buy_product`, `shop_order_status`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.clock import utc_time
from errand.services.shop.common import (
    DELIVERED_AFTER,
    _account,
    _label,
    _money,
    _order,
    _order_ref,
    _return_by,
    _session,
    _status,
    _variant,
    variant_row,
    variants_of,
)
from errand.services.shop.idempotency import _idempotent
from errand.services.shop.models import Order, Product, Variant
from errand.services.shop.payments import _charge, _paid
from errand.services.shop.stock import _take_stock
from errand.services.wallet.ledger import describe_payment
from errand.tools import Editable, FromResults, FromUser, ToolContext, tool

MAX_QUANTITY = 10
"""Most units of one variant in one order."""


def _summary(session: Session, o: Order, p: Product, v: Variant, now: datetime) -> dict[str, Any]:
    status = _status(o, now)
    out: dict[str, Any] = {
        "order_id": _order_ref(o.id),
        "status": status,
        "item": p.name,
        "product_id": p.id,
        "variant_id": v.id,
        "variant": _label(v),
        "quantity": o.quantity,
        "total_text": _money(o.unit_price * o.quantity, o.currency),
        "paid_text": _money(_paid(session, o.id), o.currency),
    }
    delivered = o.placed_at + DELIVERED_AFTER
    if status in ("pending", "shipped"):
        out["expected_delivery"] = delivered.date().isoformat()
    if status == "delivered":
        out["delivered_on"] = delivered.date().isoformat()
        out["return_by"] = _return_by(o, p).date().isoformat()
    out["can_cancel"] = status == "pending"
    out["can_return"] = status == "delivered" and now <= _return_by(o, p)
    return out


def _exchange_options(session: Session, o: Order, p: Product) -> list[dict[str, Any]]:
    """The product's other variants, which `exchange_item` can swap the order's item for: the
    ids a small model needs for "change it to the 20000 mAh one" (dev
    sh-u-exchange-bigger-powerbank-zh asked to exchange for the variant already ordered)."""
    return [variant_row(v, p.currency) for v in variants_of(session, p.id) if v.id != o.variant_id]


@tool(domain="shop")
def shop_order_status(
    ctx: ToolContext, order_id: Annotated[str, FromResults("order_id", shape=r"SO-\d{6}")]
) -> dict[str, Any]:
    """Where an order is: pending, shipped, delivered, cancelled or returned.

    Args:
        order_id: The order's id (SO- and six digits), as the user or a result gave it.
    """
    session = _session(ctx)
    o = _order(session, order_id, ctx.user)
    v, p = _variant(session, o.variant_id)
    out = _summary(session, o, p, v, utc_time(ctx.now()))
    if out["can_return"]:
        out["exchange_options"] = _exchange_options(session, o, p)
    return out


def _check_order(
    session: Session, variant_id: str, quantity: int, address: str
) -> tuple[Variant, Product, str]:
    v, p = _variant(session, variant_id)
    if quantity <= 0:
        raise ToolError("quantity must be at least 1.")
    if quantity > MAX_QUANTITY:
        raise ToolError(f"At most {MAX_QUANTITY} units of one item per order; split larger orders.")
    address = address.strip()
    if len(address) < 4:
        raise ToolError("address is missing: give the full delivery address.")
    if len(address) > 200:
        raise ToolError("address is too long: at most 200 characters.")
    return v, p, address


def _order_text(args: dict[str, Any], ctx: ToolContext) -> str:
    v, p, address = _check_order(
        _session(ctx), str(args.get("variant_id")), int(args.get("quantity", 1)), str(args.get("address", ""))
    )
    q = int(args.get("quantity", 1))
    return (
        f"Buy {q} x {p.name} ({_label(v)}, {v.id}), delivered to {address}; pay "
        f"{describe_payment(_session(ctx), ctx.user, v.price * q, p.currency, quote_to=ctx)}"
    )


@tool(domain="shop", risk="payment", confirm_text=_order_text)
def buy_product(
    ctx: ToolContext,
    variant_id: Annotated[str, FromResults("variant_id", shape=r"V-\d{6}")],
    quantity: Annotated[int, Editable()],
    address: Annotated[str, FromUser("the delivery address"), Editable()],
) -> dict[str, Any]:
    """Buy a variant and pay from the wallet (needs the user's confirmation).

    Args:
        variant_id: Id like V-004567, from get_product.
        quantity: Units, 1-10.
        address: Delivery address.
    """
    session = _session(ctx)
    v, p, address = _check_order(session, variant_id, quantity, address)
    args = {"variant_id": v.id, "quantity": quantity, "address": address}

    def act(s: Session, key: str) -> dict[str, Any]:
        _take_stock(s, v, p, quantity)
        at = ctx.now()
        now = utc_time(at)
        o = Order(
            user=ctx.user,
            product_id=p.id,
            variant_id=v.id,
            quantity=quantity,
            unit_price=v.price,
            currency=p.currency,
            address=address,
            state="placed",
            placed_at=now,
        )
        s.add(o)
        s.flush()
        total = v.price * quantity
        payment_id = _charge(s, o, ctx.user, total, f"{_order_ref(o.id)}: {quantity} x {p.name}", key, at)
        return _summary(s, o, p, v, now) | {
            "paid_from": _account(ctx.user, p.currency),
            "payment_id": payment_id,
        }

    return _idempotent(ctx, "buy_product", args, act)
