"""Shop tools: search, inspect, order, track, cancel, return and exchange products.

Stock changes only through conditional UPDATEs (``... WHERE stock >= :n``), in the
same transaction as the order and the wallet payment, so nothing is oversold and no
money moves without its order. Every write is stored under the call's idempotency
key (`Action`), so a repeat answers with the first result instead of acting twice.
Prices in outputs are text such as ``"1,299.00 CNY"``; the database keeps fen.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.shop.models import Action, Order, OrderPayment, Product, Review, Variant
from errand.services.wallet.ledger import describe_payment, money_text, pay, refund
from errand.tools import FromResults, FromUser, ToolContext, tool

MERCHANT = "shop"
"""Wallet merchant account that receives shop payments."""
MAX_QUANTITY = 10
"""Most units of one variant in one order."""
PENDING_FOR = timedelta(hours=1)
"""An order stays pending (and cancellable) this long, then ships."""
DELIVERED_AFTER = timedelta(days=2)
"""An order is delivered this long after it was placed."""
TOP = 5
"""Products a search returns."""
CATEGORIES = ("electronics", "clothing", "shoes", "home", "books", "sports", "beauty", "toys")


# ---- small helpers ---------------------------------------------------------------------


def _now() -> datetime:
    """Now, naive UTC (a function so tests can move the clock)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _money(minor: int, currency: str = "CNY") -> str:
    """``1,299.00 CNY`` from minor units, without floats."""
    return money_text(minor, currency)


def _session(ctx: ToolContext) -> Session:
    if ctx.session is None:
        raise ToolError("The shop service has no database session; this is a setup error.")
    session: Session = ctx.session
    return session


def _id(raw: str, prefix: str, digits: int, what: str, how: str) -> str:
    m = re.fullmatch(rf"\s*(?:{prefix})?\s*-?\s*0*(\d{{1,{digits}}})\s*", str(raw), flags=re.IGNORECASE)
    if not m:
        raise ToolError(f"Bad {what} id {raw!r}: ids look like {prefix}-{1:0{digits}d}. {how}")
    return f"{prefix}-{int(m.group(1)):0{digits}d}"


def _product_id(raw: str) -> str:
    return _id(raw, "P", 5, "product", "Use search_products to find product ids.")


def _variant_id(raw: str) -> str:
    return _id(raw, "V", 6, "variant", "Use get_product to see a product's variant ids.")


def _order_no(raw: str) -> int:
    m = re.fullmatch(r"\s*(?:SO)?\s*-?\s*(\d{1,9})\s*", str(raw), flags=re.IGNORECASE)
    if not m or int(m.group(1)) == 0:
        raise ToolError(f"Bad order id {raw!r}: order ids look like SO-000042.")
    return int(m.group(1))


def _order_ref(order_id: int) -> str:
    return f"SO-{order_id:06d}"


def _product(session: Session, raw: str) -> Product:
    pid = _product_id(raw)
    found = session.get(Product, pid)
    if found is None:
        raise ToolError(f"No product {pid}. Use search_products to find product ids.")
    return found


def _variant(session: Session, raw: str) -> tuple[Variant, Product]:
    vid = _variant_id(raw)
    row = session.execute(
        select(Variant, Product).join(Product, Variant.product_id == Product.id).where(Variant.id == vid)
    ).first()
    if row is None:
        raise ToolError(f"No variant {vid}. Use get_product to see a product's variant ids.")
    return row[0], row[1]


def _order(session: Session, raw: str, user: str) -> Order:
    oid = _order_no(raw)
    found = session.get(Order, oid, populate_existing=True)
    if found is None or found.user != user:
        raise ToolError(f"No order {_order_ref(oid)} of yours. Order ids come from buy_product.")
    return found


def _label(v: Variant) -> str:
    """``size M, colour black`` (parts that mean nothing are left out)."""
    parts = []
    if v.size != "one size":
        parts.append(f"size {v.size}")
    if v.colour != "-":
        parts.append(f"colour {v.colour}")
    return ", ".join(parts) or "standard"


def _status(o: Order, now: datetime) -> str:
    if o.state != "placed":
        return o.state
    if now - o.placed_at < PENDING_FOR:
        return "pending"
    if now - o.placed_at < DELIVERED_AFTER:
        return "shipped"
    return "delivered"


def _return_by(o: Order, p: Product) -> datetime:
    return o.placed_at + DELIVERED_AFTER + timedelta(days=p.return_days)


def _account(user: str, currency: str) -> str:
    return f"wallet of {user} ({currency})"


def _changed(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


# ---- idempotency -----------------------------------------------------------------------


def _args_json(args: dict[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, ensure_ascii=False)


def _replay(session: Session, key: str, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result of an earlier call with this key, or None; a different call is refused."""
    done = session.scalar(select(Action).where(Action.idempotency_key == key))
    if done is None:
        return None
    if done.tool != name or done.arguments != _args_json(args):
        raise ToolError(
            f"This call's idempotency key was already used for {done.tool} with other arguments "
            f"({done.arguments}); not doing it again."
        )
    result: dict[str, Any] = json.loads(done.result)
    return result | {"replayed": True}


def _claim(session: Session, key: str, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Store the key before acting; if a concurrent call already holds it, its result.

    ``INSERT ... ON CONFLICT DO NOTHING`` waits for a racing transaction with the same
    key to finish, then inserts nothing, so exactly one of them acts.
    """
    dialect = session.get_bind().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {"idempotency_key": key, "tool": name, "arguments": _args_json(args), "result": ""}
    stmt = make_insert(Action).values(values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    if (
        session.execute(stmt.returning(Action.id)).first() is not None
    ):  # RETURNING, not rowcount: psycopg reports -1 here
        return None
    replayed = _replay(session, key, name, args)
    if replayed is None:  # pragma: no cover - the conflicting row vanished: a bug, not a race
        raise ToolError("Could not record this call's idempotency key; try again.")
    return replayed


def _record(session: Session, key: str, result: dict[str, Any]) -> dict[str, Any]:
    """Save the first result under the key and return it."""
    if key:
        session.execute(update(Action).where(Action.idempotency_key == key).values(result=_args_json(result)))
    return result | {"replayed": False}


def _idempotent(
    ctx: ToolContext, name: str, args: dict[str, Any], act: Callable[[Session, str], dict[str, Any]]
) -> dict[str, Any]:
    """Run ``act(session, key)`` once per idempotency key; repeats get the stored result."""
    session = _session(ctx)
    key = ctx.idempotency_key
    if key:
        done = _replay(session, key, name, args)
        if done is not None:
            return done
        claimed = _claim(session, key, name, args)
        if claimed is not None:
            return claimed
    return _record(session, key, act(session, key or f"shop:{uuid.uuid4().hex}"))


# ---- stock and money -------------------------------------------------------------------


def _take_stock(session: Session, v: Variant, p: Product, quantity: int) -> None:
    """Decrement stock in one conditional UPDATE; refuse if there is not enough."""
    taken = session.execute(
        update(Variant)
        .where(Variant.id == v.id, Variant.stock >= quantity)
        .values(stock=Variant.stock - quantity)
        .execution_options(synchronize_session=False)
    )
    if not _changed(taken):
        left = session.scalar(select(Variant.stock).where(Variant.id == v.id)) or 0
        if left == 0:
            raise ToolError(
                f"{p.name} ({_label(v)}) is sold out. Pick another variant with get_product {p.id}."
            )
        raise ToolError(f"Only {left} left of {p.name} ({_label(v)}); order {left} or fewer.")


def _put_back(session: Session, variant_id: str, quantity: int) -> None:
    session.execute(
        update(Variant)
        .where(Variant.id == variant_id)
        .values(stock=Variant.stock + quantity)
        .execution_options(synchronize_session=False)
    )


def _payments(session: Session, order_id: int) -> list[OrderPayment]:
    return list(
        session.scalars(
            select(OrderPayment)
            .where(OrderPayment.order_id == order_id)
            .order_by(OrderPayment.id.desc())
            .execution_options(populate_existing=True)
        )
    )


def _refund(session: Session, o: Order, amount: int | None, memo: str, key: str) -> int:
    """Refund ``amount`` (None: everything still paid) through the wallet, newest payment first."""
    total = 0
    for op in _payments(session, o.id):
        remaining = op.amount - op.refunded
        want = remaining if amount is None else min(remaining, amount - total)
        if want <= 0:
            continue
        refund(session, payment_id=op.payment_id, amount=want, memo=memo, idempotency_key=f"{key}:{op.id}")
        op.refunded += want
        total += want
    session.flush()
    return total


def _charge(session: Session, o: Order, user: str, amount: int, memo: str, key: str) -> str:
    payment = pay(
        session,
        user=user,
        amount=amount,
        currency=o.currency,
        merchant=MERCHANT,
        memo=memo,
        idempotency_key=f"{key}:pay",
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


# ---- read tools --------------------------------------------------------------------------


def _terms(query: str) -> list[str]:
    """Search words: whitespace-separated, with long Chinese runs also split into pairs."""
    words = [w for w in re.split(r"[\s,，、]+", query.lower().strip()) if w]
    out: list[str] = []
    for w in words:
        out.append(w)
        if re.fullmatch(r"[\u4e00-\u9fff]{3,}", w):
            out.extend(w[i : i + 2] for i in range(len(w) - 1))
    return list(dict.fromkeys(out))


@tool(domain="shop")
def search_products(
    ctx: ToolContext,
    query: str,
    category: str | None = None,
    max_price: int | None = None,
    min_rating: float | None = None,
    in_stock: bool = True,
) -> dict[str, Any]:
    """Find products; returns the top 5 matches, best first.

    Args:
        query: What to buy, e.g. "running shoes" or "蓝牙耳机".
        category: electronics, clothing, shoes, home, books, sports, beauty or toys.
        max_price: Highest price in whole yuan.
        min_rating: Lowest average rating, 1-5.
        in_stock: Only products with a variant in stock.
    """
    session = _session(ctx)
    terms = _terms(query)
    if not terms:
        raise ToolError("query must name what to buy, e.g. 'wireless earbuds'.")
    if category is not None:
        category = category.strip().lower()
        if category not in CATEGORIES:
            raise ToolError(f"Unknown category {category!r}. Categories: {', '.join(CATEGORIES)}.")
    if max_price is not None and max_price <= 0:
        raise ToolError("max_price must be a positive whole number of yuan.")
    if min_rating is not None and not 1 <= min_rating <= 5:
        raise ToolError("min_rating is on a 1-5 scale.")
    conds = [or_(*(Product.search_text.contains(t, autoescape=True) for t in terms))]
    vconds = []
    if category is not None:
        conds.append(Product.category == category)
    if min_rating is not None:
        conds.append(Product.rating >= min_rating)
    if max_price is not None:
        vconds.append(Variant.price <= max_price * 100)
    if in_stock:
        vconds.append(Variant.stock > 0)
    rows = session.execute(
        select(Product, func.min(Variant.price), func.sum(Variant.stock))
        .join(Variant, Variant.product_id == Product.id)
        .where(*conds, *vconds)
        .group_by(Product.id)
    ).all()

    def score(p: Product) -> tuple[int, float, int]:
        hits = sum(1 for t in terms if t in p.search_text)
        return (hits, p.rating, p.review_count)

    ranked = sorted(rows, key=lambda r: (score(r[0]), -r[1], r[0].id), reverse=True)
    best_hits = score(ranked[0][0])[0] if ranked else 0
    ranked = [r for r in ranked if score(r[0])[0] == best_hits]
    if not ranked:
        hint = "Try fewer or other words"
        if max_price is not None or min_rating is not None or category is not None:
            hint += ", or drop max_price, min_rating or category"
        return {"matches": 0, "top": [], "hint": hint + "."}
    top = [
        {
            "id": p.id,
            "name": p.name,
            "category": p.category,
            "price_text": _money(price, p.currency),
            "rating": p.rating,
            "reviews": p.review_count,
            "in_stock": int(stock or 0),
            "return_days": p.return_days,
        }
        for p, price, stock in ranked[:TOP]
    ]
    cheap_p, cheap_price, _ = min(ranked, key=lambda r: (r[1], r[0].id))
    return {
        "matches": len(ranked),
        "top": top,
        "cheapest": {
            "id": cheap_p.id,
            "name": cheap_p.name,
            "price_text": _money(cheap_price, cheap_p.currency),
        },
        "next": "get_product(product_id) shows sizes, colours and stock.",
    }


@tool(domain="shop")
def get_product(ctx: ToolContext, product_id: str) -> dict[str, Any]:
    """Show a product with its variants (size, colour, price, stock) and reviews.

    Args:
        product_id: Id like P-01234.
    """
    session = _session(ctx)
    p = _product(session, product_id)
    variants = session.scalars(
        select(Variant)
        .where(Variant.product_id == p.id)
        .order_by(Variant.id)
        .execution_options(populate_existing=True)
    ).all()
    reviews = session.scalars(
        select(Review).where(Review.product_id == p.id).order_by(Review.id).limit(3)
    ).all()
    return {
        "id": p.id,
        "name": p.name,
        "name_zh": p.name_zh,
        "brand": p.brand,
        "category": p.category,
        "rating": p.rating,
        "reviews": p.review_count,
        "return_days": p.return_days,
        "variants": [
            {
                "variant_id": v.id,
                "size": v.size,
                "colour": v.colour,
                "price_text": _money(v.price, p.currency),
                "stock": v.stock,
            }
            for v in variants
        ],
        "review_samples": [{"rating": r.rating, "text": r.text} for r in reviews],
        "next": "buy_product(variant_id, quantity, address) buys one variant.",
    }


@tool(domain="shop")
def shop_order_status(ctx: ToolContext, order_id: str) -> dict[str, Any]:
    """Where an order is: pending, shipped, delivered, cancelled or returned.

    Args:
        order_id: Id like SO-000042.
    """
    session = _session(ctx)
    o = _order(session, order_id, ctx.user)
    v, p = _variant(session, o.variant_id)
    return _summary(session, o, p, v, _now())


# ---- place an order ----------------------------------------------------------------------


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
    variant_id: Annotated[str, FromResults("variant_id")],
    quantity: int,
    address: Annotated[str, FromUser("the delivery address")],
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
        now = _now()
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
        payment_id = _charge(s, o, ctx.user, total, f"{_order_ref(o.id)}: {quantity} x {p.name}", key)
        return _summary(s, o, p, v, now) | {
            "paid_from": _account(ctx.user, p.currency),
            "payment_id": payment_id,
        }

    return _idempotent(ctx, "buy_product", args, act)


# ---- cancel, return, exchange --------------------------------------------------------------


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
def cancel_shop_order(ctx: ToolContext, order_id: Annotated[str, FromResults("order_id")]) -> dict[str, Any]:
    """Cancel a pending order and get a full refund (needs the user's confirmation).

    Args:
        order_id: Id like SO-000042.
    """
    session = _session(ctx)
    o = _order(session, order_id, ctx.user)

    def act(s: Session, key: str) -> dict[str, Any]:
        now = _now()
        status = _status(o, now)
        if status != "pending":
            hint = " Use return_item once it is delivered." if status == "shipped" else ""
            raise ToolError(f"{_order_ref(o.id)} is {status}; only pending orders can be cancelled.{hint}")
        _close(s, o, "cancelled", now, None)
        _put_back(s, o.variant_id, o.quantity)
        refunded = _refund(s, o, None, f"{_order_ref(o.id)} cancelled", f"{key}:refund")
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
    ctx: ToolContext, order_id: Annotated[str, FromResults("order_id")], reason: str
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
        now = _now()
        _check_window(o, p, now, "returned")
        _close(s, o, "returned", now, reason)
        _put_back(s, o.variant_id, o.quantity)
        refunded = _refund(s, o, None, f"{_order_ref(o.id)} returned: {reason}", f"{key}:refund")
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
    order_id: Annotated[str, FromResults("order_id")],
    new_variant_id: Annotated[str, FromResults("variant_id")],
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
        now = _now()
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
            _charge(s, o, ctx.user, diff, memo, key)
        elif diff < 0:
            _refund(s, o, -diff, memo, f"{key}:refund")
        s.refresh(o)
        return _summary(s, o, p, new, now) | {
            "exchanged_from": old_id,
            "difference_text": _money(diff, o.currency),
            "account": _account(ctx.user, o.currency),
        }

    args = {"order_id": _order_ref(o.id), "new_variant_id": new.id}
    return _idempotent(ctx, "exchange_item", args, act)


TOOLS = (
    search_products,
    get_product,
    buy_product,
    shop_order_status,
    cancel_shop_order,
    return_item,
    exchange_item,
)
"""The domain's tools in their fixed order."""
