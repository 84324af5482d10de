"""Every service reads the time from its tool context (`ToolContext.now`), never the machine's clock:
what a tool does under a frozen clock is dated by that clock, and "today", refund rules and order
status follow it. The eval freezes time this way; so can any caller of `runtime.tool_context`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from errand.config import Settings
from errand.errors import ToolError
from errand.runtime import tool_context
from errand.services.clock import LOCAL
from errand.services.food import tools as food
from errand.services.food.models import Order as FoodOrder
from errand.services.realestate import tools as realestate
from errand.services.shop import tools as shop
from errand.services.shop.models import Order as ShopOrder
from errand.services.shop.models import Variant
from errand.services.store import ServiceStore
from errand.services.travel import tools as travel
from errand.services.travel.models import Booking
from errand.services.wallet import ledger
from errand.services.wallet import tools as wallet
from errand.services.wallet.models import LedgerTransaction
from errand.tools import ToolContext

FROZEN = datetime(2026, 12, 10, 9, 0, tzinfo=LOCAL)
"""A Thursday morning in the cities (01:00 UTC), days before the machine's own clock may be."""


def _at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _fund(store: ServiceStore, user: str) -> None:
    with store.sessions() as s, s.begin():
        ledger.top_up(
            s, user=user, amount=100_000_00, currency="CNY", idempotency_key=f"fund:{user}", at=FROZEN
        )


def _payment(store: ServiceStore, payment_id: str) -> LedgerTransaction:
    with store.sessions() as s:
        return s.get_one(LedgerTransaction, int(payment_id.removeprefix("PAY-")))


def test_a_booking_made_under_a_frozen_clock_is_dated_by_it(
    make_store: Callable[..., ServiceStore], tmp_path: Path
) -> None:
    """Through `runtime.tool_context`, the one place tool contexts are made, on both databases (on
    PostgreSQL the booking's writes run in a database function that takes the times as arguments)."""
    store, settings = make_store(), Settings(home=tmp_path)
    _fund(store, "clock-traveller")

    def context(key: str, now: Callable[[], datetime]) -> AbstractContextManager[ToolContext]:
        return tool_context(
            store, settings, user="clock-traveller", run_id="run-clock", idempotency_key=key, now=now
        )

    with context("book", _at(FROZEN)) as ctx:
        done = travel.book_flight.fn(ctx, "CA1101", ["Li Na"], date="2027-01-15")
    with store.sessions() as s:
        booking = s.get_one(Booking, int(done["booking_id"].removeprefix("BK-")))
        assert booking.created_at == datetime(2026, 12, 10, 9, 0)  # the cities' wall-clock time
    assert _payment(store, done["payment_id"]).created_at == datetime(2026, 12, 10, 1, 0)  # the ledger's UTC

    later = FROZEN + timedelta(days=1)
    with context("cancel", _at(later)) as ctx:
        gone = travel.cancel_booking.fn(ctx, done["booking_id"])
    assert gone["refund"] == done["total"] * 80 // 100  # economy, over 24 h before departure
    with store.sessions() as s:
        booking = s.get_one(Booking, booking.id, populate_existing=True)
        assert booking.cancelled_at == datetime(2026, 12, 11, 9, 0)
        assert booking.refund_id is not None
        refund = s.get_one(LedgerTransaction, int(booking.refund_id.removeprefix("REF-")))
        assert refund.created_at == datetime(2026, 12, 11, 1, 0)


def test_orders_are_placed_at_the_contexts_time(store: ServiceStore) -> None:
    """Food keeps the cities' wall-clock time, the shop UTC; both read the same context clock."""
    user = "clock-buyer"
    _fund(store, user)
    evening = datetime(2026, 11, 29, 10, 30, tzinfo=LOCAL)
    with store.sessions() as s, s.begin():
        ctx = ToolContext(user=user, idempotency_key="food", session=s, now=_at(evening))
        placed = food.place_order.fn(
            ctx,
            restaurant_id="HZ-R005",
            items=[{"item_id": 50, "quantity": 1}, {"item_id": 61, "quantity": 2}],
            address="88 Wensan Road, Xihu, Hangzhou",
            deliver_at="19:00",
        )
        assert placed["status"] == "placed"
    with store.sessions() as s, s.begin():
        variant = s.scalars(select(Variant.id).where(Variant.stock > 0).order_by(Variant.id)).first()
        assert variant is not None
        ctx = ToolContext(user=user, idempotency_key="shop", session=s, now=_at(FROZEN))
        bought = shop.buy_product.fn(ctx, variant_id=variant, quantity=1, address="88 Wensan Road, Hangzhou")
        assert bought["status"] == "pending"
    with store.sessions() as s:
        food_order = s.get_one(FoodOrder, int(placed["order_id"].removeprefix("FO-")))
        assert food_order.placed_at == datetime(2026, 11, 29, 10, 30)
        shop_order = s.get_one(ShopOrder, int(bought["order_id"].removeprefix("SO-")))
        assert shop_order.placed_at == FROZEN.astimezone(UTC).replace(tzinfo=None)
    with store.sessions() as s:  # two days on, by the context's clock alone, the parcel has arrived
        ctx = ToolContext(user=user, session=s, now=_at(FROZEN + timedelta(days=2, hours=1)))
        assert shop.shop_order_status.fn(ctx, order_id=bought["order_id"])["status"] == "delivered"


def test_today_is_the_contexts_day(store: ServiceStore) -> None:
    """A viewing and a daily limit count days by the context's clock, in the cities' time zone."""
    with store.sessions() as s:
        ctx = ToolContext(user="clock-viewer", idempotency_key="v", session=s, now=_at(FROZEN))
        with pytest.raises(ToolError, match="today is 2026-12-10"):
            realestate.request_viewing.fn(ctx, listing_id="HZ-00001", date="2026-12-09", name="Li Wei")
    user = "clock-spender"
    _fund(store, user)
    with store.sessions() as s, s.begin():
        ledger.set_daily_limit(s, user=user, currency="CNY", amount=500_00)
        ledger.pay(
            s,
            user=user,
            amount=200_00,
            currency="CNY",
            merchant="clock:test",
            memo="x",
            idempotency_key="clock-pay",
            at=FROZEN,
        )

    def left_today(moment: datetime) -> str:
        with store.sessions() as s:
            out = wallet.wallet_balance.fn(ToolContext(user=user, session=s, now=_at(moment)), currency="CNY")
            return str(out["balances"][0]["left_today_text"])

    assert left_today(FROZEN) == "300.00 CNY"
    assert left_today(FROZEN.replace(hour=23, minute=59)) == "300.00 CNY"
    assert left_today(FROZEN + timedelta(days=1)) == "500.00 CNY"
