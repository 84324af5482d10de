"""Random sequences of operations across travel, food, shop and wallet keep every book balanced.

A hypothesis state machine books and cancels flights, trains and hotels, orders and cancels food,
buys, cancels, returns and exchanges shop items, tops up wallets, pays and refunds, replays earlier
calls under their idempotency keys, and moves one shared clock forward (shop orders are delivered
by the clock, food orders dispatch by it, refund rules and return windows count with it).

After every step: no user balance is below zero, the ledger sums to zero per currency and
`ledger_problems` finds nothing, each wallet holds exactly what its top-ups minus what the
services say they charged (net of refunds) leave, and for every inventory row the sequence sells
from (seats, rooms per night, a limited dish, shop stock) remaining + sold == what it started with.
A step that fails (sold out, insufficient funds, over the daily limit, cancel too late, return
outside the window) or replays must leave a snapshot of everything unchanged; for the services
that promise it (travel, food, wallet) that holds even when the caller swallows the error and
commits.

Each example uses its own users and resets the inventory rows it sells from, so examples share
one store per backend (seeding per example would take seconds).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from errand.errors import ErrandError
from errand.services import builtin_domains
from errand.services.clock import LOCAL
from errand.services.food import tools as food
from errand.services.food.models import MenuItem, OrderLine, Restaurant
from errand.services.food.models import Order as FoodOrder
from errand.services.shop import common as shop_common
from errand.services.shop import returns as shop_returns
from errand.services.shop import tools as shop
from errand.services.shop.models import Action, OrderPayment, Product, Variant
from errand.services.shop.models import Order as ShopOrder
from errand.services.store import ServiceStore
from errand.services.travel import tools as travel
from errand.services.travel.models import Booking, Fare, RoomNight, Service
from errand.services.wallet import ledger
from errand.services.wallet.models import Account, Entry, LedgerTransaction, SpendingLimit
from errand.tools import ToolContext
from tests.services.conftest import Clock
from tests.services.test_food import dinner

START = datetime(2026, 12, 1, 18, 30, tzinfo=LOCAL)
"""Where each example's clock starts: a Tuesday evening in the cities, long before the trips."""
TRAVEL_DAY = date(2027, 3, 20)
"""Departure of the flight, the day after is the train's; the hotel nights are these two."""
NIGHTS = (TRAVEL_DAY, TRAVEL_DAY + timedelta(1))
STAYS = ((TRAVEL_DAY, 1), (TRAVEL_DAY, 2), (TRAVEL_DAY + timedelta(1), 1))
"""Check-in and nights of the stays booked: every night they take is one of `NIGHTS`."""
WAITS = (timedelta(minutes=10), timedelta(hours=1), timedelta(days=1), timedelta(days=3), timedelta(days=9))
CAPACITY = {"flight": 4, "train": 4, "night": 3, "dish": 4, "variant": 3}
"""What each inventory row holds at the start of an example: small, so sequences sell out."""
MISC = "seq:misc"
"""Merchant of the wallet payments made directly (not through a service)."""
RICH, POOR = 30_000_00, 600_00
"""Opening balances (minor units) of the example's two users; the rich one has a daily limit."""
DAILY_LIMIT = 12_000_00
USERS = st.sampled_from([0, 1])
PICK = st.integers(0, 1_000)
"""Index into what a sequence has made so far (taken modulo its length)."""


@pytest.fixture
def clock() -> Clock:
    """One clock for every service (each tool call's `ToolContext.now`), moved by the machine."""
    return Clock(START)


# ---- the rows sold from, and the invariants -------------------------------------------------------


@dataclass(frozen=True)
class Stock:
    """The inventory rows the sequences sell from (found once per store)."""

    flight: str
    """Option id of the flight, e.g. ``PN1105-20270320-economy``."""
    train: str
    fares: dict[str, int]
    """``flight``/``train`` -> `Fare` id."""
    hotel: str
    restaurant: str
    special: int
    """A dish with limited portions."""
    plain: int
    """A dish that never runs out."""
    variants: tuple[str, ...]
    """Three variants of one product, not all at one price (exchanges stay within a product)."""

    def rows(self) -> list[str]:
        """Names of the inventory rows, as `remaining` and `sold` report them."""
        return ["flight", "train", *(f"night {n}" for n in NIGHTS), "dish", *self.variants]

    def initial(self, key: str) -> int:
        """What row ``key`` holds at the start of an example."""
        return CAPACITY["variant" if key in self.variants else key.split()[0]]


def find_stock(store: ServiceStore) -> Stock:
    """The cheapest flight, train and hotel on the travel days, a dinner place, a cheap product."""
    with store.sessions() as s:
        fares: dict[str, int] = {}
        options: dict[str, str] = {}
        for kind, cabin, day in (("flight", "economy", TRAVEL_DAY), ("train", "second", NIGHTS[1])):
            fare = s.scalars(
                select(Fare)
                .join(Service, Service.id == Fare.service_id)
                .where(Service.kind == kind, Fare.day == day, Fare.cabin == cabin)
                .order_by(Fare.price, Fare.id)
            ).first()
            assert fare is not None
            fares[kind] = fare.id
            options[kind] = f"{fare.service_id}-{day:%Y%m%d}-{cabin}"
        hotel = s.scalar(
            select(RoomNight.hotel_id)
            .where(RoomNight.night.in_(NIGHTS))
            .group_by(RoomNight.hotel_id)
            .order_by(func.sum(RoomNight.price), RoomNight.hotel_id)
            .limit(1)
        )
        assert hotel is not None
        r, menu = dinner(s)
        # The cheapest product with three variants at two or more prices (exchanges pay or refund).
        product = s.scalar(
            select(Variant.product_id)
            .group_by(Variant.product_id)
            .having(func.count(Variant.id) >= 3, func.count(func.distinct(Variant.price)) >= 2)
            .order_by(func.max(Variant.price), Variant.product_id)
            .limit(1)
        )
        variants = s.scalars(
            select(Variant.id).where(Variant.product_id == product).order_by(Variant.id)
        ).all()
    return Stock(
        flight=options["flight"],
        train=options["train"],
        fares=fares,
        hotel=hotel,
        restaurant=r.id,
        special=menu[0].id,
        plain=menu[1].id,
        variants=tuple(variants[:3]),
    )


def restock(store: ServiceStore, stock: Stock) -> None:
    """Put every row back at its `CAPACITY`; the dinner place opens all day and takes any order."""
    with store.sessions() as s, s.begin():
        for kind, fare_id in stock.fares.items():
            s.execute(update(Fare).where(Fare.id == fare_id).values(seats_left=CAPACITY[kind]))
        s.execute(
            update(RoomNight)
            .where(RoomNight.hotel_id == stock.hotel, RoomNight.night.in_(NIGHTS))
            .values(rooms_left=CAPACITY["night"])
        )
        s.execute(
            update(Restaurant)
            .where(Restaurant.id == stock.restaurant)
            .values(open_min=0, close_min=1440, min_order=0)
        )
        s.execute(update(MenuItem).where(MenuItem.id == stock.special).values(stock_left=CAPACITY["dish"]))
        s.execute(update(MenuItem).where(MenuItem.id == stock.plain).values(stock_left=None))
        s.execute(update(Variant).where(Variant.id.in_(stock.variants)).values(stock=CAPACITY["variant"]))


def remaining(s: Session, stock: Stock) -> dict[str, int]:
    """What each inventory row has left."""
    seats = dict(s.execute(select(Fare.id, Fare.seats_left).where(Fare.id.in_(stock.fares.values()))).all())
    out = {kind: int(seats[fid]) for kind, fid in stock.fares.items()}
    nights = s.execute(
        select(RoomNight.night, RoomNight.rooms_left).where(
            RoomNight.hotel_id == stock.hotel, RoomNight.night.in_(NIGHTS)
        )
    ).all()
    out |= {f"night {n}": int(left) for n, left in nights}
    out["dish"] = int(s.scalar(select(MenuItem.stock_left).where(MenuItem.id == stock.special)) or 0)
    out |= dict(s.execute(select(Variant.id, Variant.stock).where(Variant.id.in_(stock.variants))).all())
    return out


def sold(s: Session, stock: Stock, users: list[str]) -> dict[str, int]:
    """What ``users`` hold of each inventory row: confirmed bookings, standing orders."""
    out = dict.fromkeys(stock.rows(), 0)
    confirmed = (Booking.user.in_(users), Booking.status == "confirmed")
    for kind, option in (("flight", stock.flight), ("train", stock.train)):
        service, day, cabin = option.rsplit("-", 2)
        out[kind] = int(
            s.scalar(
                select(func.coalesce(func.sum(Booking.quantity), 0)).where(
                    *confirmed,
                    Booking.kind == kind,
                    Booking.item_id == service,
                    Booking.day == datetime.strptime(day, "%Y%m%d").date(),
                    Booking.cabin == cabin,
                )
            )
            or 0
        )
    stays = s.execute(
        select(Booking.day, Booking.nights, Booking.quantity).where(
            *confirmed, Booking.kind == "hotel", Booking.item_id == stock.hotel
        )
    ).all()
    for night in NIGHTS:
        out[f"night {night}"] = sum(q for d, n, q in stays if d <= night < d + timedelta(n))
    out["dish"] = int(
        s.scalar(
            select(func.coalesce(func.sum(OrderLine.quantity), 0))
            .join(FoodOrder, FoodOrder.id == OrderLine.order_id)
            .where(
                FoodOrder.user.in_(users),
                FoodOrder.cancelled_at.is_(None),
                OrderLine.item_id == stock.special,
            )
        )
        or 0
    )
    held = s.execute(
        select(ShopOrder.variant_id, func.sum(ShopOrder.quantity))
        .where(
            ShopOrder.user.in_(users), ShopOrder.state == "placed", ShopOrder.variant_id.in_(stock.variants)
        )
        .group_by(ShopOrder.variant_id)
    ).all()
    out |= {v: int(q) for v, q in held}
    return out


def _by_user(s: Session, stmt: Any) -> dict[str, int]:
    return {str(u): int(v or 0) for u, v in s.execute(stmt).all()}


def net_charged(s: Session, users: list[str]) -> dict[str, int]:
    """What the services and direct payments say each user paid, net of what they refunded."""
    out = dict.fromkeys(users, 0)
    sums = (
        select(Booking.user, func.sum(Booking.amount - Booking.refund_amount))
        .where(Booking.user.in_(users))
        .group_by(Booking.user),
        select(FoodOrder.user, func.sum(FoodOrder.total))
        .where(FoodOrder.user.in_(users), FoodOrder.cancelled_at.is_(None))
        .group_by(FoodOrder.user),
        select(ShopOrder.user, func.sum(OrderPayment.amount - OrderPayment.refunded))
        .join(ShopOrder, ShopOrder.id == OrderPayment.order_id)
        .where(ShopOrder.user.in_(users))
        .group_by(ShopOrder.user),
        select(LedgerTransaction.user, func.sum(LedgerTransaction.amount - LedgerTransaction.refunded))
        .where(
            LedgerTransaction.user.in_(users),
            LedgerTransaction.kind == "payment",
            LedgerTransaction.counterparty == MISC,
        )
        .group_by(LedgerTransaction.user),
    )
    for stmt in sums:
        for user, amount in _by_user(s, stmt).items():
            out[user] += amount
    return out


def problems(s: Session, stock: Stock, users: list[str]) -> list[str]:
    """Every broken invariant (empty when the books are sound)."""
    found = [f"ledger: entries in {c} sum to {v}" for c, v in ledger.ledger_sum(s).items() if v]
    found += [f"ledger: {p}" for p in ledger.ledger_problems(s)]
    lowest = s.scalar(select(func.min(Account.balance)).where(Account.kind == "user"))
    if lowest is not None and lowest < 0:
        found.append(f"a user balance is negative: {lowest}")
    have, held = remaining(s, stock), sold(s, stock, users)
    for key in stock.rows():
        if have[key] < 0 or have[key] + held[key] != stock.initial(key):
            found.append(f"{key}: {have[key]} left + {held[key]} sold != {stock.initial(key)}")
    topped = _by_user(
        s,
        select(LedgerTransaction.user, func.sum(LedgerTransaction.amount))
        .where(LedgerTransaction.user.in_(users), LedgerTransaction.kind == "topup")
        .group_by(LedgerTransaction.user),
    )
    held_now = _by_user(
        s,
        select(Account.owner, Account.balance).where(
            Account.owner.in_(users), Account.kind == "user", Account.currency == "CNY"
        ),
    )
    charged = net_charged(s, users)
    for user in users:
        expected, balance = topped.get(user, 0) - charged[user], held_now.get(user, 0)
        if balance != expected:
            found.append(f"{user}: wallet holds {balance}, top-ups minus net charges say {expected}")
    return found


def snapshot(s: Session, stock: Stock, users: list[str]) -> dict[str, Any]:
    """Everything an operation could change: equal snapshots mean it changed nothing."""
    mine = Booking.user.in_(users)
    return {
        "remaining": remaining(s, stock),
        "balances": s.execute(
            select(Account.owner, Account.currency, Account.balance)
            .where(Account.owner.in_(users))
            .order_by(Account.owner, Account.currency)
        ).all(),
        "limits": s.execute(
            select(SpendingLimit.user, SpendingLimit.day, SpendingLimit.spent)
            .where(SpendingLimit.user.in_(users))
            .order_by(SpendingLimit.user, SpendingLimit.currency)
        ).all(),
        "ledger": s.execute(
            select(func.count(LedgerTransaction.id), func.coalesce(func.sum(LedgerTransaction.refunded), 0))
        ).one(),
        "entries": s.scalar(select(func.count(Entry.id))),
        "bookings": s.execute(
            select(Booking.id, Booking.status, Booking.refund_amount, Booking.payment_id, Booking.refund_id)
            .where(mine)
            .order_by(Booking.id)
        ).all(),
        "food": s.execute(
            select(FoodOrder.id, FoodOrder.cancelled_at, FoodOrder.refund_id)
            .where(FoodOrder.user.in_(users))
            .order_by(FoodOrder.id)
        ).all(),
        "food lines": s.scalar(select(func.count(OrderLine.id))),
        "shop": s.execute(
            select(ShopOrder.id, ShopOrder.state, ShopOrder.variant_id, ShopOrder.unit_price)
            .where(ShopOrder.user.in_(users))
            .order_by(ShopOrder.id)
        ).all(),
        "shop payments": s.execute(
            select(OrderPayment.id, OrderPayment.amount, OrderPayment.refunded).order_by(OrderPayment.id)
        ).all(),
        "shop actions": s.scalar(select(func.count(Action.id))),
    }


def fund(store: ServiceStore, users: list[str]) -> None:
    """Top up the example's users; the rich one gets a daily spending limit."""
    with store.sessions() as s, s.begin():
        for user, amount in zip(users, (RICH, POOR), strict=True):
            ledger.top_up(
                s, user=user, amount=amount, currency="CNY", idempotency_key=f"open:{user}", at=START
            )
        ledger.set_daily_limit(s, user=users[0], currency="CNY", amount=DAILY_LIMIT)


# ---- the machine ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    """Something a step made that later steps act on: a booking, an order, a payment."""

    user: str
    id: str


@dataclass(frozen=True)
class Call:
    """A successful write, kept so a later step can send it again under the same key."""

    what: str
    run: Callable[[Session], Any]


def _replayed(out: Any) -> bool:
    return bool(out["replayed"] if isinstance(out, dict) else out.replayed)


def machine(store: ServiceStore, stock: Stock, clock: Clock) -> type[RuleBasedStateMachine]:
    """A state machine class over ``store``, selling from ``stock``, with time from ``clock``."""

    class Services(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            tag = uuid.uuid4().hex[:10]
            self.users = [f"seq-{tag}-rich", f"seq-{tag}-poor"]
            self.tag, self.n = tag, 0
            self.bookings: list[Made] = []
            self.food_orders: list[Made] = []
            self.shop_orders: list[Made] = []
            self.payments: list[Made] = []
            self.calls: list[Call] = []

        @initialize()
        def open_books(self) -> None:
            clock.now = START
            restock(store, stock)
            fund(store, self.users)

        # ---- helpers

        def key(self) -> str:
            self.n += 1
            return f"{self.tag}:{self.n}"

        def ctx(self, s: Session, user: str, key: str) -> ToolContext:
            return ToolContext(user=user, run_id=f"seq-{self.tag}", idempotency_key=key, session=s, now=clock)

        def snapshot(self) -> dict[str, Any]:
            with store.sessions() as s:
                return snapshot(s, stock, self.users)

        def attempt(self, what: str, run: Callable[[Session], Any], commit_errors: bool = False) -> Any:
            """Run one call in its own transaction, as the runtime does; None if it was refused.

            A refusal (or a replay) must change nothing. With ``commit_errors`` the caller swallows
            the error and commits anyway, which the travel, food and wallet services also survive.
            """
            before = self.snapshot()
            error: ErrandError | None = None
            try:
                with store.sessions() as s, s.begin():
                    try:
                        out = run(s)
                    except ErrandError as exc:
                        if not commit_errors:
                            raise
                        error = exc
            except ErrandError as exc:
                error = exc
            if error is not None or _replayed(out):
                after = self.snapshot()
                changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
                assert not changed, (
                    f"{what} {'failed: ' + str(error) if error else 'replayed'} yet changed {changed}"
                )
            if error is not None:
                event(f"{what}: refused ({type(error).__name__})")
                note(f"{what} refused: {error}")
                return None
            event(f"{what}: {'replayed' if _replayed(out) else 'done'}")
            return out

        def remember(self, what: str, run: Callable[[Session], Any]) -> None:
            self.calls.append(Call(what, run))

        # ---- travel

        @rule(who=USERS, train=st.booleans(), n=st.integers(1, 3), commit_errors=st.booleans())
        def book_seats(self, who: int, train: bool, n: int, commit_errors: bool) -> None:
            user, key = self.users[who], self.key()
            people = [f"Passenger {i}" for i in range(n)]

            def run(s: Session) -> Any:
                if train:
                    return travel.book_train(self.ctx(s, user, key), train_id=stock.train, passengers=people)
                return travel.book_flight(self.ctx(s, user, key), flight_id=stock.flight, passengers=people)

            out = self.attempt("book train" if train else "book flight", run, commit_errors)
            if out is not None:
                assert not out["replayed"] and out["status"] == "confirmed" and len(out["passengers"]) == n
                self.bookings.append(Made(user, out["booking_id"]))
                self.remember("book seats", run)

        @rule(who=USERS, stay=st.sampled_from(STAYS), rooms=st.integers(1, 2), commit_errors=st.booleans())
        def book_hotel(self, who: int, stay: tuple[date, int], rooms: int, commit_errors: bool) -> None:
            user, key = self.users[who], self.key()
            first, nights = stay

            def run(s: Session) -> Any:
                return travel.book_hotel(
                    self.ctx(s, user, key),
                    hotel_id=stock.hotel,
                    guests=["Guest One"],
                    check_in=first.isoformat(),
                    nights=nights,
                    rooms=rooms,
                )

            out = self.attempt("book hotel", run, commit_errors)
            if out is not None:
                assert out["rooms"] == rooms and out["nights"] == nights
                self.bookings.append(Made(user, out["booking_id"]))
                self.remember("book hotel", run)

        @precondition(lambda self: self.bookings)
        @rule(pick=PICK, commit_errors=st.booleans())
        def cancel_booking(self, pick: int, commit_errors: bool) -> None:
            made, key = self.bookings[pick % len(self.bookings)], self.key()

            def run(s: Session) -> Any:
                return travel.cancel_booking(self.ctx(s, made.user, key), booking_id=made.id)

            out = self.attempt("cancel booking", run, commit_errors)
            if out is not None:
                assert out["status"] == "cancelled"
                self.remember("cancel booking", run)

        # ---- food

        @rule(who=USERS, special=st.integers(0, 3), plain=st.integers(0, 2), commit_errors=st.booleans())
        def order_food(self, who: int, special: int, plain: int, commit_errors: bool) -> None:
            user, key = self.users[who], self.key()
            wanted = ((stock.special, special), (stock.plain, plain))
            items = [{"item_id": item, "quantity": q} for item, q in wanted if q]

            def run(s: Session) -> Any:
                return food.place_order(
                    self.ctx(s, user, key), restaurant_id=stock.restaurant, items=items, address="1 Lake Rd"
                )

            out = self.attempt("order food", run, commit_errors)
            if out is not None:
                self.food_orders.append(Made(user, out["order_id"]))
                self.remember("order food", run)

        @precondition(lambda self: self.food_orders)
        @rule(pick=PICK, commit_errors=st.booleans())
        def cancel_food(self, pick: int, commit_errors: bool) -> None:
            made, key = self.food_orders[pick % len(self.food_orders)], self.key()

            def run(s: Session) -> Any:
                return food.cancel_order(self.ctx(s, made.user, key), order_id=made.id)

            out = self.attempt("cancel food", run, commit_errors)
            if out is not None:
                assert out["status"] == "cancelled"
                self.remember("cancel food", run)

        # ---- shop (errors here rely on the caller's rollback, as the runtime always does)

        @rule(who=USERS, variant=st.integers(0, 2), quantity=st.integers(1, 3))
        def buy(self, who: int, variant: int, quantity: int) -> None:
            user, key = self.users[who], self.key()

            def run(s: Session) -> Any:
                return shop.buy_product(
                    self.ctx(s, user, key),
                    variant_id=stock.variants[variant],
                    quantity=quantity,
                    address="1 Main St",
                )

            out = self.attempt("buy", run)
            if out is not None:
                self.shop_orders.append(Made(user, out["order_id"]))
                self.remember("buy", run)

        @precondition(lambda self: self.shop_orders)
        @rule(pick=PICK)
        def cancel_shop_order(self, pick: int) -> None:
            made, key = self.shop_orders[pick % len(self.shop_orders)], self.key()

            def run(s: Session) -> Any:
                return shop.cancel_shop_order(self.ctx(s, made.user, key), order_id=made.id)

            if self.attempt("cancel shop order", run) is not None:
                self.remember("cancel shop order", run)

        @precondition(lambda self: self.shop_orders)
        @rule(
            pick=PICK,
            to=st.none() | st.integers(1, 2),
            wait=st.sampled_from(["no", "delivery", "delivery", "late"]),
        )
        def return_or_exchange(self, pick: int, to: int | None, wait: str) -> None:
            """Return an order (``to`` None) or exchange it for the variant ``to`` places further on.

            Both need the order delivered: ``wait`` first moves the clock to its delivery (the
            shop marks delivery by the time since the order) or past the end of its return window.
            Orders still standing are picked first, so the returns and exchanges mostly get a chance.
            """
            key = self.key()
            with store.sessions() as s:
                standing = s.scalars(
                    select(ShopOrder.id)
                    .where(ShopOrder.user.in_(self.users), ShopOrder.state == "placed")
                    .order_by(ShopOrder.id)
                ).all()
                ids = [f"SO-{i:06d}" for i in standing] or [m.id for m in self.shop_orders]
                made = next(m for m in self.shop_orders if m.id == ids[pick % len(ids)])
                o = s.get_one(ShopOrder, int(made.id.removeprefix("SO-")))
                delivered = (o.placed_at + shop_common.DELIVERED_AFTER).replace(
                    tzinfo=UTC
                )  # the shop keeps UTC
                window = timedelta(days=s.get_one(Product, o.product_id).return_days + 1)
                new = stock.variants[(stock.variants.index(o.variant_id) + (to or 0)) % len(stock.variants)]
            if wait != "no":
                clock.now = max(clock.now, delivered + window if wait == "late" else delivered)

            def run(s: Session) -> Any:
                ctx = self.ctx(s, made.user, key)
                if to is None:
                    return shop.return_item(ctx, order_id=made.id, reason="changed my mind")
                return shop.exchange_item(ctx, order_id=made.id, new_variant_id=new)

            if self.attempt("return" if to is None else "exchange", run) is not None:
                self.remember("return or exchange", run)

        # ---- wallet

        @rule(who=USERS, yuan=st.integers(1, 5_000), commit_errors=st.booleans())
        def top_up(self, who: int, yuan: int, commit_errors: bool) -> None:
            user, key = self.users[who], self.key()

            def run(s: Session) -> Any:
                return ledger.top_up(
                    s, user=user, amount=yuan * 100, currency="CNY", idempotency_key=key, at=clock()
                )

            if self.attempt("top up", run, commit_errors) is not None:
                self.remember("top up", run)

        @rule(who=USERS, yuan=st.integers(1, 8_000), commit_errors=st.booleans())
        def pay(self, who: int, yuan: int, commit_errors: bool) -> None:
            user, key = self.users[who], self.key()

            def run(s: Session) -> Any:
                return ledger.pay(
                    s,
                    user=user,
                    amount=yuan * 100,
                    currency="CNY",
                    merchant=MISC,
                    memo="misc",
                    idempotency_key=key,
                    at=clock(),
                )

            out = self.attempt("pay", run, commit_errors)
            if out is not None:
                self.payments.append(Made(user, out.id))
                self.remember("pay", run)

        @precondition(lambda self: self.payments)
        @rule(pick=PICK, yuan=st.none() | st.integers(1, 5_000), commit_errors=st.booleans())
        def refund(self, pick: int, yuan: int | None, commit_errors: bool) -> None:
            made, key = self.payments[pick % len(self.payments)], self.key()
            amount = None if yuan is None else yuan * 100

            def run(s: Session) -> Any:
                return ledger.refund(
                    s, payment_id=made.id, amount=amount, memo="refund", idempotency_key=key, at=clock()
                )

            if self.attempt("refund", run, commit_errors) is not None:
                self.remember("refund", run)

        # ---- replays and time

        @precondition(lambda self: self.calls)
        @rule(pick=PICK)
        def replay(self, pick: int) -> None:
            """The same call under the same key again: the first result, marked replayed, nothing new."""
            call = self.calls[pick % len(self.calls)]
            out = self.attempt(f"replay {call.what}", call.run)
            assert out is not None, f"replaying {call.what} under its key was refused"
            assert _replayed(out), f"replaying {call.what} acted again"

        @rule(step=st.sampled_from(WAITS))
        def wait(self, step: timedelta) -> None:
            clock.now += step

        @invariant()
        def books_balance(self) -> None:
            with store.sessions() as s:
                found = problems(s, stock, self.users)
            assert not found, found

    return Services


def _store(make_store: Callable[..., ServiceStore]) -> ServiceStore:
    """A store on the backend under test with travel, food and shop seeded; wallets start empty."""
    store = make_store(seed=False)
    store.seed([d for d in builtin_domains() if d.name in ("travel", "food", "shop")])
    return store


def test_random_sequences_across_services_keep_every_book(
    make_store: Callable[..., ServiceStore], clock: Clock
) -> None:
    store = _store(make_store)
    run_state_machine_as_test(
        machine(store, find_stock(store), clock),
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# ---- the checks themselves can fail ---------------------------------------------------------------


@pytest.fixture
def sqlite_world(tmp_path: Path, clock: Clock) -> Iterator[tuple[ServiceStore, Stock, list[str]]]:
    """A small SQLite store with one example's users funded and the inventory restocked."""
    store = ServiceStore.open(f"sqlite:///{tmp_path}/w.db", seed=False)
    store.seed([d for d in builtin_domains() if d.name in ("travel", "food", "shop")])
    stock = find_stock(store)
    users = ["w-rich", "w-poor"]
    restock(store, stock)
    fund(store, users)
    yield store, stock, users
    store.close()


def test_the_checks_flag_corrupted_books(
    sqlite_world: tuple[ServiceStore, Stock, list[str]], clock: Clock
) -> None:
    store, stock, users = sqlite_world
    with store.sessions() as s:
        assert problems(s, stock, users) == []
        before = snapshot(s, stock, users)
    with store.sessions() as s, s.begin():
        out = travel.book_flight(
            ToolContext(user=users[0], idempotency_key="w1", session=s, now=clock),
            flight_id=stock.flight,
            passengers=["A"],
        )
    with store.sessions() as s:
        assert problems(s, stock, users) == [] and snapshot(s, stock, users) != before

    # A seat appears from nowhere.
    with store.sessions() as s:
        s.execute(update(Fare).where(Fare.id == stock.fares["flight"]).values(seats_left=Fare.seats_left + 1))
        assert problems(s, stock, users) == ["flight: 4 left + 1 sold != 4"]
        s.rollback()
    # The wallet's leg of the payment is lost: unbalanced ledger, a balance that is not its entries.
    with store.sessions() as s:
        leg = s.scalars(
            select(Entry)
            .join(Account, Account.id == Entry.account_id)
            .where(Account.owner == users[0])
            .order_by(Entry.id.desc())
            .limit(1)
        ).one()
        s.delete(leg)
        s.flush()
        found = problems(s, stock, users)
        assert any("sum to" in p for p in found) and any("!= entries" in p for p in found), found
        s.rollback()
    # The booking says it refunded money the wallet never got back.
    with store.sessions() as s:
        s.execute(update(Booking).where(Booking.user == users[0]).values(refund_amount=100))
        assert [p for p in problems(s, stock, users) if "wallet holds" in p]
        s.rollback()
    # A refused call that leaves a trace is seen by the snapshot.
    with store.sessions() as s:
        before = snapshot(s, stock, users)
        s.execute(update(Variant).where(Variant.id == stock.variants[0]).values(stock=Variant.stock - 1))
        assert snapshot(s, stock, users) != before
        s.rollback()
    assert out["booking_id"]


def test_the_machine_catches_a_service_that_frees_stock_twice(
    sqlite_world: tuple[ServiceStore, Stock, list[str]], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, stock, _ = sqlite_world
    real = shop_returns._put_back
    monkeypatch.setattr(
        shop_returns, "_put_back", lambda s, variant_id, quantity: real(s, variant_id, 2 * quantity)
    )
    with pytest.raises(AssertionError, match="left \\+"):
        run_state_machine_as_test(
            machine(store, stock, clock),
            settings=settings(
                max_examples=200,
                stateful_step_count=15,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
