"""Shop tables: products, their variants with stock, reviews, orders and idempotent actions.

Money is integer minor units (fen) next to a currency code, in BIGINT columns.
Stock lives on the variant and a CHECK constraint keeps it at zero or above, so no
order, exchange or race can ever sell what is not there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from errand.db.engine import Base


class Product(Base):
    """Something for sale; what is actually bought is one of its variants."""

    __tablename__ = "sh_products"
    __table_args__ = (Index("ix_sh_products_category_rating", "category", "rating"),)

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    """``P-`` and five digits (``P-01234``)."""
    name: Mapped[str] = mapped_column(String(120))
    """English name, brand first (``Anker Soundcore Wireless Earbuds``)."""
    name_zh: Mapped[str] = mapped_column(String(60))
    """Chinese name (``无线蓝牙耳机``)."""
    brand: Mapped[str] = mapped_column(String(40))
    """Brand or publisher."""
    category: Mapped[str] = mapped_column(String(20))
    """``electronics``, ``clothing``, ``shoes``, ``home``, ``books``, ``sports``, ``beauty`` or ``toys``."""
    search_text: Mapped[str] = mapped_column(Text)
    """Lower-case words (English and Chinese) that a search matches against."""
    rating: Mapped[float] = mapped_column(Float)
    """Average review rating, 1.0-5.0, one decimal (0 when there are no reviews)."""
    review_count: Mapped[int]
    """Number of reviews."""
    return_days: Mapped[int]
    """Days after delivery during which the item may be returned or exchanged (7 or 30)."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of the variants' prices (``CNY``)."""


class Variant(Base):
    """One buyable version of a product (a size and a colour) with its own price and stock."""

    __tablename__ = "sh_variants"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="ck_sh_variants_stock"),
        CheckConstraint("price > 0", name="ck_sh_variants_price"),
    )

    id: Mapped[str] = mapped_column(String(9), primary_key=True)
    """``V-`` and six digits (``V-004567``)."""
    product_id: Mapped[str] = mapped_column(ForeignKey("sh_products.id"), index=True)
    """The product this is a variant of."""
    size: Mapped[str] = mapped_column(String(20))
    """Size, capacity or format (``M``, ``42``, ``256 GB``, ``paperback``); ``one size`` if none."""
    colour: Mapped[str] = mapped_column(String(20))
    """Colour (``black``); ``-`` for things without one (books)."""
    price: Mapped[int] = mapped_column(BigInteger)
    """Unit price in minor units (fen)."""
    stock: Mapped[int]
    """Units in the warehouse; never below zero."""


class Review(Base):
    """A buyer's rating and short comment on a product."""

    __tablename__ = "sh_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("sh_products.id"), index=True)
    """The product reviewed."""
    rating: Mapped[int]
    """Stars from 1 to 5."""
    text: Mapped[str] = mapped_column(String(200))
    """Short comment."""
    author: Mapped[str] = mapped_column(String(40))
    """Display name of the reviewer."""


class Order(Base):
    """An order of one variant; status moves pending -> shipped -> delivered with time."""

    __tablename__ = "sh_orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_sh_orders_quantity"),
        CheckConstraint("unit_price > 0", name="ck_sh_orders_unit_price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    """Number shown as ``SO-000042``."""
    user: Mapped[str] = mapped_column(String(100), index=True)
    """errand user who placed it."""
    product_id: Mapped[str] = mapped_column(ForeignKey("sh_products.id"))
    """The product bought."""
    variant_id: Mapped[str] = mapped_column(ForeignKey("sh_variants.id"), index=True)
    """The variant held now (changes on an exchange)."""
    quantity: Mapped[int]
    """Units ordered."""
    unit_price: Mapped[int] = mapped_column(BigInteger)
    """Price per unit of the variant held now, minor units."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of the amounts."""
    address: Mapped[str] = mapped_column(String(200))
    """Delivery address."""
    state: Mapped[str] = mapped_column(String(12))
    """``placed``, ``cancelled`` or ``returned``; a placed order's status follows the clock."""
    placed_at: Mapped[datetime] = mapped_column(DateTime)
    """When it was placed (naive UTC)."""
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    """When it was cancelled or returned."""
    reason: Mapped[str | None] = mapped_column(String(200))
    """Why it was returned."""


class OrderPayment(Base):
    """A wallet payment made for an order (the order itself, or the extra cost of an exchange)."""

    __tablename__ = "sh_order_payments"
    __table_args__ = (CheckConstraint("refunded >= 0 AND refunded <= amount", name="ck_sh_pay_refunded"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sh_orders.id"), index=True)
    """The order paid for."""
    payment_id: Mapped[str] = mapped_column(String(40))
    """The wallet's payment id (``PAY-000042``)."""
    amount: Mapped[int] = mapped_column(BigInteger)
    """Amount paid, minor units."""
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    """Amount of it refunded so far, minor units."""


class Action(Base):
    """One write or payment call, stored under its idempotency key so a repeat replays it."""

    __tablename__ = "sh_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    """Key of the tool call."""
    tool: Mapped[str] = mapped_column(String(30))
    """Tool name (``buy_product``)."""
    arguments: Mapped[str] = mapped_column(Text)
    """The call's arguments as canonical JSON; a repeat must match them."""
    result: Mapped[str] = mapped_column(Text, default="")
    """The first call's result as JSON."""
