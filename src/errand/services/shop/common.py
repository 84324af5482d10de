"""What the shop tools share: the session, ids, an order's status and return window.

Prices in outputs are text such as ``"1,299.00 CNY"``; the database keeps fen. Times are UTC
without a zone: a tool reads ``utc_time(ctx.now())`` once and hands it on as ``now``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.shop.models import Order, Product, Variant
from errand.services.wallet.ledger import money_text
from errand.tools import ToolContext

PENDING_FOR = timedelta(hours=1)
"""An order stays pending (and cancellable) this long, then ships."""
DELIVERED_AFTER = timedelta(days=2)
"""An order is delivered this long after it was placed."""


def _money(minor: int, currency: str = "CNY") -> str:
    """``1,299.00 CNY`` from minor units, without floats."""
    return money_text(minor, currency)


def variant_row(v: Variant, currency: str) -> dict[str, Any]:
    """A variant as results show it: its id, size, colour, price and stock, and "sold out" said,
    not left to a 0 (the 1.5B told "not available" of a variant with stock 0)."""
    return {
        "variant_id": v.id,
        "size": v.size,
        "colour": v.colour,
        "price_text": _money(v.price, currency),
        "stock": v.stock,
        **({"availability": "sold out"} if v.stock <= 0 else {}),
    }


def variants_of(session: Session, product_id: str) -> list[Variant]:
    """A product's variants in id order, read afresh (stock changes under other sessions)."""
    return list(
        session.scalars(
            select(Variant)
            .where(Variant.product_id == product_id)
            .order_by(Variant.id)
            .execution_options(populate_existing=True)
        ).all()
    )


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
