"""Stock changes only through conditional UPDATEs (``... WHERE stock >= :n``), in the same
transaction as the order and its payment, so nothing is oversold."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.shop.common import _changed, _label
from errand.services.shop.models import Product, Variant


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
