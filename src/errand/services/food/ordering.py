"""`place_order`: check an order against every rule, price it, pay and record it.

The order, its stock, its wallet payment and its lines are written in one savepoint, in the
transaction of the call: all or nothing. A repeated call (the same idempotency key) answers
with the first call's order.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from errand.errors import ToolError
from errand.services.clock import local_time
from errand.services.food.common import (
    _hours,
    _is_open,
    _minute_of,
    _money,
    _order_ref,
    _parse_when,
    _restaurant,
    _restaurant_id,
    _session,
    said_clock,
)
from errand.services.food.delivery import _status
from errand.services.food.diet import Allergens, _allergens, _item_allergens
from errand.services.food.models import MenuItem, Order, OrderLine, Restaurant
from errand.services.wallet import ledger
from errand.tools import AsAsked, Editable, FromResults, FromUser, ToolContext, tool

MAX_QUANTITY = 50
"""Most portions of one dish per order."""


MAX_AHEAD = timedelta(days=2)
"""Furthest ahead a delivery can be scheduled."""


MAX_LINES = 12
"""Dishes one order may hold (each with its quantity): also the grammar's bound, so a small model
that starts copying the whole menu into an order stops and still writes the address."""


class OrderItem(TypedDict):
    """One dish to order."""

    item_id: Annotated[int, FromResults("item_id", typed=False)]
    quantity: Annotated[int, AsAsked("quantity_asked", row="item_id")]


class _Priced:
    """An order checked and priced, not yet written."""

    def __init__(
        self, r: Restaurant, lines: list[tuple[MenuItem, int]], eta: datetime, dispatch_at: datetime
    ) -> None:
        self.restaurant = r
        self.lines = lines
        self.eta = eta
        self.dispatch_at = dispatch_at
        self.subtotal = sum(item.price * qty for item, qty in lines)
        self.total = self.subtotal + r.delivery_fee


def _ride(r: Restaurant) -> timedelta:
    """Time from the kitchen door to the customer's."""
    return timedelta(minutes=min(15, r.delivery_min // 2))


def _price_order(
    session: Session,
    restaurant_id: str,
    items: list[OrderItem],
    address: str,
    deliver_at: str | None,
    exclude_allergens: list[str] | None,
    now: datetime,
) -> _Priced:
    """Check an order placed at ``now`` (local time) against every rule and price it; raises
    `ToolError` saying what to fix."""
    r = _restaurant(session, restaurant_id)
    if not items:
        raise ToolError("The order has no items: give a list of {item_id, quantity} from get_menu.")
    wanted: dict[int, int] = {}
    for line in items:
        item_id, qty = line.get("item_id"), line.get("quantity")
        if not isinstance(item_id, int) or not isinstance(qty, int) or isinstance(qty, bool):
            raise ToolError(f"Each item needs an integer item_id and quantity, got {line!r}.")
        if qty <= 0:
            raise ToolError(f"Quantity of item {item_id} must be at least 1, got {qty}.")
        wanted[item_id] = wanted.get(item_id, 0) + qty
        if wanted[item_id] > MAX_QUANTITY:
            raise ToolError(f"At most {MAX_QUANTITY} portions of one dish per order (item {item_id}).")
    found = {i.id: i for i in session.scalars(select(MenuItem).where(MenuItem.id.in_(list(wanted)))).all()}
    lines: list[tuple[MenuItem, int]] = []
    for item_id, qty in wanted.items():
        item = found.get(item_id)
        if item is None or item.restaurant_id != r.id:
            raise ToolError(f"Item {item_id} is not on {r.id}'s menu; use get_menu({r.id}) for item ids.")
        if item.stock_left is not None and item.stock_left < qty:
            raise ToolError(
                f"{item.name} is sold out for today"
                if item.stock_left == 0
                else f"Only {item.stock_left} portions of {item.name} are left today; order at most that many."
            )
        lines.append((item, qty))
    avoid = _allergens(exclude_allergens)
    for item, _ in lines:
        bad = [a for a in _item_allergens(item) if a in avoid]
        if bad:
            raise ToolError(
                f"{item.name} (item {item.id}) contains {', '.join(bad)}; remove it or pick another dish."
            )
    if not address.strip():
        raise ToolError("The delivery address is missing: ask the user where to deliver.")
    cook = timedelta(minutes=r.delivery_min)
    if deliver_at:
        try:
            eta = _parse_when(deliver_at, now)
        except ValueError:
            raise ToolError(f"Bad time {deliver_at!r}: use HH:MM or YYYY-MM-DD HH:MM.") from None
        if eta < now + cook:
            raise ToolError(
                f"{r.name} needs {r.delivery_min} min, so the earliest delivery is "
                f"{(now + cook):%Y-%m-%d %H:%M}; leave deliver_at empty for as soon as possible, or give "
                "another day as YYYY-MM-DD HH:MM (HH:MM alone is today)."
            )
        if eta > now + MAX_AHEAD:
            raise ToolError("Deliveries can be scheduled at most 2 days ahead.")
        start = eta - cook
    else:
        eta, start = now + cook, now
    if not _is_open(r, _minute_of(start)):
        raise ToolError(
            f"{r.name} is closed at {start:%H:%M} (open {_hours(r)}). Schedule deliver_at for when it is "
            "open, or choose another restaurant."
        )
    priced = _Priced(r, lines, eta, eta - _ride(r))
    if priced.subtotal < r.min_order:
        raise ToolError(
            f"The food comes to {_money(priced.subtotal, r.currency)}, below {r.name}'s minimum order of "
            f"{_money(r.min_order, r.currency)}: add {_money(r.min_order - priced.subtotal, r.currency)} more."
        )
    return priced


def _request_hash(restaurant_id: str, items: list[OrderItem], address: str, deliver_at: str | None) -> str:
    merged: dict[int, int] = {}
    for line in items:
        merged[int(line["item_id"])] = merged.get(int(line["item_id"]), 0) + int(line["quantity"])
    blob = json.dumps(
        [_restaurant_id(restaurant_id), sorted(merged.items()), address.strip(), (deliver_at or "").strip()]
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _order_result(session: Session, o: Order, *, replayed: bool, now: datetime) -> dict[str, Any]:
    r = session.get_one(Restaurant, o.restaurant_id)
    lines = session.scalars(select(OrderLine).where(OrderLine.order_id == o.id).order_by(OrderLine.id)).all()
    return {
        "order_id": _order_ref(o.id),
        "restaurant": r.name,
        "items": [f"{ln.quantity} x {ln.name} = {_money(ln.line_total, o.currency)}" for ln in lines],
        "subtotal": _money(o.subtotal, o.currency),
        "delivery_fee": _money(o.delivery_fee, o.currency),
        "total_text": _money(o.total, o.currency),
        "payment_id": o.payment_id,
        "address": o.address,
        "eta": f"{o.eta:%Y-%m-%d %H:%M}",
        "status": _status(o, now),
        "replayed": replayed,
    }


def _add_lines(session: Session, order: Order, lines: list[tuple[MenuItem, int]]) -> None:
    """Record the order's dishes (a function of its own so tests can make it fail)."""
    session.add_all(
        OrderLine(
            order_id=order.id,
            item_id=item.id,
            name=item.name,
            quantity=qty,
            unit_price=item.price,
            line_total=item.price * qty,
        )
        for item, qty in lines
    )
    session.flush()


def _confirm_order(args: dict[str, Any], ctx: ToolContext) -> str:
    """What the user approves: dishes, total, address, time and the paying account."""
    plain = (
        f"Order from {args.get('restaurant_id')}: items {args.get('items')}, "
        f"deliver to {args.get('address')!r}"
        + (f" at {args['deliver_at']}" if args.get("deliver_at") else "")
    )
    if ctx.session is None:
        return plain
    try:
        p = _price_order(
            ctx.session,
            args["restaurant_id"],
            list(args.get("items") or []),
            str(args.get("address") or ""),
            args.get("deliver_at"),
            args.get("exclude_allergens"),
            local_time(ctx.now()),
        )
    except ToolError as exc:
        return f"{plain}. It will be refused: {exc}"
    cur = p.restaurant.currency
    dishes = "; ".join(f"{q} x {i.name} ({_money(i.price * q, cur)})" for i, q in p.lines)
    pays = ledger.describe_payment(ctx.session, ctx.user, p.total, cur, quote_to=ctx)
    return (
        f"Order from {p.restaurant.name} ({p.restaurant.id}): {dishes}; delivery fee "
        f"{_money(p.restaurant.delivery_fee, cur)}; total {_money(p.total, cur)}. "
        f"Deliver to {args.get('address')} by {p.eta:%Y-%m-%d %H:%M}. Pay {pays}."
    )


@tool(domain="food", risk="payment", confirm_text=_confirm_order)
def place_order(
    ctx: ToolContext,
    restaurant_id: Annotated[str, FromResults("id", "restaurant_id", shape=r"[A-Z]{2}-R\d{3}")],
    items: Annotated[list[OrderItem], Editable(), Field(min_length=1, max_length=MAX_LINES)],
    address: Annotated[str, FromUser("the delivery address"), Editable()],
    deliver_at: Annotated[str | None, FromUser("the delivery time", said_as=said_clock)] = None,
    exclude_allergens: Allergens = None,
) -> dict[str, Any]:
    """Order delivery and pay from the wallet (needs the user's confirmation).

    Args:
        restaurant_id: Id like SH-R012.
        items: Dishes as [{item_id, quantity}] from get_menu.
        address: Delivery address.
        deliver_at: Delivery time as YYYY-MM-DD HH:MM (HH:MM alone is today), empty for as soon as possible.
        exclude_allergens: Allergens the user said they must avoid (else none); the order is refused if a dish has one.
    """
    session = _session(ctx)
    at = ctx.now()
    now = local_time(at)
    key = ctx.idempotency_key.strip() or None
    digest = _request_hash(restaurant_id, items, address, deliver_at)

    def replay(done: Order) -> dict[str, Any]:
        if done.request_hash != digest:
            raise ToolError(
                f"This call's idempotency key already placed {_order_ref(done.id)} with other items; "
                "not ordering again."
            )
        return _order_result(session, done, replayed=True, now=now)

    if key is not None:
        done = session.scalar(select(Order).where(Order.idempotency_key == key))
        if done is not None:
            return replay(done)
    p = _price_order(session, restaurant_id, items, address, deliver_at, exclude_allergens, now)
    r = p.restaurant
    order = Order(
        restaurant_id=r.id,
        user=ctx.user,
        run_id=ctx.run_id,
        address=address.strip(),
        placed_at=now,
        eta=p.eta,
        dispatch_at=p.dispatch_at,
        subtotal=p.subtotal,
        delivery_fee=r.delivery_fee,
        total=p.total,
        currency=r.currency,
        payment_id="",
        request_hash=digest,
        idempotency_key=key or f"food:{uuid.uuid4().hex}",
    )
    try:
        # One savepoint for the order, the stock, the payment and the lines: all or nothing,
        # and a lost idempotency race rolls back only this, not the caller's transaction.
        with session.begin_nested():
            session.add(order)
            session.flush()  # takes the idempotency key first: a racing twin waits here
            for item, qty in p.lines:
                if item.stock_left is not None:
                    res = session.execute(
                        update(MenuItem)
                        .where(MenuItem.id == item.id, MenuItem.stock_left >= qty)
                        .values(stock_left=MenuItem.stock_left - qty)
                        .execution_options(synchronize_session=False)
                    )
                    if not res.rowcount:  # type: ignore[attr-defined]
                        raise ToolError(f"{item.name} sold out while ordering; pick another dish.")
            payment = ledger.pay(
                session,
                user=ctx.user,
                amount=p.total,
                currency=r.currency,
                merchant=f"food:{r.id}",
                memo=f"{_order_ref(order.id)} {r.name}",
                idempotency_key=f"food:order:{order.idempotency_key}",
                at=at,
            )
            order.payment_id = payment.id
            _add_lines(session, order, p.lines)
    except IntegrityError:
        done = session.scalar(select(Order).where(Order.idempotency_key == key)) if key else None
        if done is None:
            raise
        return replay(done)
    for item, _ in p.lines:
        if item.stock_left is not None:
            session.refresh(item)
    return _order_result(session, order, replayed=False, now=now)
