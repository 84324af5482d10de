"""Food tables: restaurants, their menus, delivery orders and the lines of each order.

Money is integer minor units (fen for CNY, cents for SGD) next to a currency code, in
BIGINT columns. Times of day are minutes after midnight in the city's local time; a
closing time past midnight is stored as more than 1440 (02:00 the next day is 1560).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from errand.db.engine import Base


class Restaurant(Base):
    """A restaurant that delivers in one city."""

    __tablename__ = "fd_restaurants"
    __table_args__ = (
        Index("ix_fd_restaurants_city", "city", "cuisine"),
        CheckConstraint("delivery_fee >= 0 AND min_order >= 0", name="ck_fd_restaurants_money"),
        CheckConstraint("open_min < close_min", name="ck_fd_restaurants_hours"),
    )

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    """City code, ``R`` and a number (``SH-R012``)."""
    city: Mapped[str] = mapped_column(String(40))
    """English name of the city (``Shanghai``)."""
    city_zh: Mapped[str] = mapped_column(String(20))
    """Chinese name of the city (``上海``)."""
    district: Mapped[str] = mapped_column(String(40))
    """District the kitchen is in."""
    name: Mapped[str] = mapped_column(String(100))
    """Name shown to users (English, with the Chinese name where it has one)."""
    cuisine: Mapped[str] = mapped_column(String(30))
    """Cuisine in lower case (``sichuan``, ``cantonese``, ``italian``)."""
    rating: Mapped[float] = mapped_column(Float)
    """Average review score, 1.0 to 5.0, one decimal."""
    reviews: Mapped[int]
    """Number of reviews behind the rating."""
    open_min: Mapped[int]
    """Opening time, minutes after midnight."""
    close_min: Mapped[int]
    """Closing time, minutes after midnight; over 1440 when it closes after midnight."""
    delivery_min: Mapped[int]
    """Typical minutes from order to door."""
    delivery_fee: Mapped[int] = mapped_column(BigInteger)
    """Delivery fee in minor units."""
    min_order: Mapped[int] = mapped_column(BigInteger)
    """Smallest food subtotal (before the fee) it delivers, in minor units."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of every price of the restaurant."""


class MenuItem(Base):
    """A dish on a restaurant's menu."""

    __tablename__ = "fd_menu_items"
    __table_args__ = (
        CheckConstraint("price > 0", name="ck_fd_menu_items_price"),
        CheckConstraint("spice BETWEEN 0 AND 3", name="ck_fd_menu_items_spice"),
        CheckConstraint("stock_left IS NULL OR stock_left >= 0", name="ck_fd_menu_items_stock"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    """Item number, unique over every menu (what ``place_order`` takes)."""
    restaurant_id: Mapped[str] = mapped_column(ForeignKey("fd_restaurants.id"), index=True)
    """The restaurant serving it."""
    name: Mapped[str] = mapped_column(String(100))
    """English name with the Chinese one where the dish has it (``Mapo tofu 麻婆豆腐``)."""
    category: Mapped[str] = mapped_column(String(20))
    """``starter``, ``main``, ``side``, ``dessert`` or ``drink``."""
    price: Mapped[int] = mapped_column(BigInteger)
    """Price of one portion in minor units."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of ``price``."""
    serves: Mapped[int]
    """How many people one portion feeds."""
    vegetarian: Mapped[bool]
    """No meat or fish."""
    vegan: Mapped[bool]
    """No animal products at all."""
    halal: Mapped[bool]
    """Prepared halal (no pork, no alcohol)."""
    gluten_free: Mapped[bool]
    """No gluten (wheat, barley)."""
    allergens: Mapped[str] = mapped_column(String(80))
    """Allergens between commas, also at both ends (``,peanut,soy,``; ``,`` for none)."""
    spice: Mapped[int]
    """Heat from 0 (not spicy) to 3 (very hot)."""
    stock_left: Mapped[int | None]
    """Portions left today for a limited special; None when the kitchen never runs out."""


class Order(Base):
    """A delivery order, paid through the wallet when placed."""

    __tablename__ = "fd_orders"
    __table_args__ = (
        CheckConstraint("subtotal > 0 AND total = subtotal + delivery_fee", name="ck_fd_orders_total"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    """Order number; shown as ``FO-000042``."""
    restaurant_id: Mapped[str] = mapped_column(ForeignKey("fd_restaurants.id"), index=True)
    """The restaurant cooking it."""
    user: Mapped[str] = mapped_column(String(100), index=True)
    """errand user who ordered and paid."""
    run_id: Mapped[str] = mapped_column(String(100))
    """Run that placed it."""
    address: Mapped[str] = mapped_column(String(200))
    """Where to deliver."""
    placed_at: Mapped[datetime] = mapped_column(DateTime)
    """When it was placed (city local time, no zone)."""
    eta: Mapped[datetime] = mapped_column(DateTime)
    """When it should arrive: placed_at plus the delivery time, or the time asked for."""
    dispatch_at: Mapped[datetime] = mapped_column(DateTime)
    """When the rider leaves with it; it can be cancelled until then."""
    subtotal: Mapped[int] = mapped_column(BigInteger)
    """Sum of the lines, minor units."""
    delivery_fee: Mapped[int] = mapped_column(BigInteger)
    """Fee charged for delivery, minor units."""
    total: Mapped[int] = mapped_column(BigInteger)
    """subtotal + delivery_fee: what was paid."""
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of the amounts."""
    payment_id: Mapped[str] = mapped_column(String(40))
    """The wallet payment (``PAY-000042``)."""
    request_hash: Mapped[str] = mapped_column(String(64))
    """Hash of the order's arguments: a replay with other arguments is refused."""
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    """Key of the tool call that placed it; a retry returns this order instead of ordering again."""
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    """When it was cancelled; None while it stands."""
    refund_id: Mapped[str | None] = mapped_column(String(40))
    """The wallet refund of a cancelled order."""
    cancel_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    """Key of the tool call that cancelled it."""


class OrderLine(Base):
    """One dish of an order, with the price it was sold at."""

    __tablename__ = "fd_order_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_fd_order_lines_quantity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("fd_orders.id"), index=True)
    """The order."""
    item_id: Mapped[int] = mapped_column(ForeignKey("fd_menu_items.id"))
    """The dish."""
    name: Mapped[str] = mapped_column(String(100))
    """Dish name when ordered."""
    quantity: Mapped[int]
    """Portions."""
    unit_price: Mapped[int] = mapped_column(BigInteger)
    """Price of one portion when ordered, minor units."""
    line_total: Mapped[int] = mapped_column(BigInteger)
    """unit_price × quantity."""
