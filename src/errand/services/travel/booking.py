"""Booking: take the seats or rooms, pay and record the booking, all or nothing.

Bookings decrement seats or rooms with one conditional UPDATE and pay through the wallet
inside one savepoint, so a sold-out seat, a failed payment or any error after the seat
update leaves seats, bookings and the ledger as they were. A repeated call (the same
idempotency key) answers with the first call's booking.

Booking a seat is the hot path (many clients book at once), so it runs as a few Core
statements on the tables, each built once: one read of the service, fare, cities and any
booking already made under the call's idempotency key; then, in a savepoint, the seat
update, the wallet payment (claim its key, debit, both legs) and the booking insert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Table, and_, bindparam, select, text, update
from sqlalchemy.orm import Session

from errand.db.engine import insert_unless_taken
from errand.errors import ToolError
from errand.services.clock import local_time
from errand.services.travel.common import MERCHANT, _session
from errand.services.travel.models import Booking, Fare, Service, TravelCity
from errand.services.travel.seed import CURRENCY
from errand.services.travel.views import _render, _Shown, _view
from errand.services.wallet import ledger
from errand.tools import ToolContext


@dataclass(frozen=True)
class _Request:
    """What a booking call asks for; a replay must ask for the same."""

    kind: str
    item_id: str
    day: date
    cabin: str
    nights: int
    quantity: int
    names: list[str]


def _check_replay(session: Session, done: Booking, req: _Request) -> dict[str, Any]:
    same = (done.kind, done.item_id, done.day, done.cabin, done.nights, done.quantity, done.names) == (
        req.kind,
        req.item_id,
        req.day,
        req.cabin,
        req.nights,
        req.quantity,
        "\n".join(req.names),
    )
    if not same:
        raise ToolError(
            f"This call's idempotency key was already used for booking BK-{done.id:06d} "
            f"({done.kind} {done.item_id} on {done.day.isoformat()}); not booking again."
        )
    return _view(session, done, replayed=True)


class _Raced(Exception):
    """Another call with the same idempotency key committed first."""


def _by_key(session: Session, key: str) -> Booking | None:
    return session.scalar(
        select(Booking).where(Booking.idempotency_key == key).execution_options(populate_existing=True)
    )


_BOOKINGS: Table = Booking.__table__  # type: ignore[assignment]
_FARES: Table = Fare.__table__  # type: ignore[assignment]
_SERVICES: Table = Service.__table__  # type: ignore[assignment]
_CITIES: Table = TravelCity.__table__  # type: ignore[assignment]


def _seat_lookup() -> Any:
    """Service, cities, fare (if the date and cabin name one) and the booking under a key: one query."""
    s, f, b = _SERVICES, _FARES, _BOOKINGS
    origin, dest = _CITIES.alias("origin"), _CITIES.alias("dest")
    fare_of_day = and_(
        f.c.service_id == s.c.id,
        f.c.day == bindparam("q_day", type_=Date),
        f.c.cabin == bindparam("q_cabin"),
    )
    booked = select(b.c.id).where(b.c.idempotency_key == bindparam("q_key")).scalar_subquery()
    return (
        select(
            s.c.kind,
            s.c.depart_min,
            origin.c.name.label("origin"),
            dest.c.name.label("dest"),
            f.c.id.label("fare_id"),
            f.c.price,
            f.c.seats_left,
            booked.label("booked"),
        )
        .select_from(
            s.join(origin, origin.c.id == s.c.origin_city_id)
            .join(dest, dest.c.id == s.c.dest_city_id)
            .outerjoin(f, fare_of_day)
        )
        .where(s.c.id == bindparam("q_service"))
    )


_SEAT_LOOKUP = _seat_lookup()
_TAKE_SEATS = (
    update(_FARES)
    .where(_FARES.c.id == bindparam("t_fare"), _FARES.c.seats_left >= bindparam("t_n"))
    .values(seats_left=_FARES.c.seats_left - bindparam("t_n"))
)
"""Take ``t_n`` seats of fare ``t_fare`` if that many are left (rowcount 0 otherwise)."""


@contextmanager
def _savepoint(session: Session) -> Iterator[None]:
    """A savepoint on the session's connection, written as plain SQL.

    What `Session.begin_nested` does for Core statements, at half the cost on the booking path:
    SQLAlchemy compiles its SAVEPOINT and RELEASE afresh each time (their names change). Only
    for blocks that run Core statements: the session does not expire ORM objects it rolls back.
    """
    conn = session.connection()
    conn.exec_driver_sql("SAVEPOINT travel_booking")
    try:
        yield
    except BaseException:
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT travel_booking")
        conn.exec_driver_sql("RELEASE SAVEPOINT travel_booking")
        raise
    conn.exec_driver_sql("RELEASE SAVEPOINT travel_booking")


def _booking_values(
    ctx: ToolContext, req: _Request, amount: int, starts_at: datetime, at: datetime
) -> dict[str, Any]:
    """A new booking's row, made at ``at``, but for its ``payment_id``."""
    return {
        "user": ctx.user,
        "kind": req.kind,
        "item_id": req.item_id,
        "day": req.day,
        "nights": req.nights,
        "cabin": req.cabin,
        "quantity": req.quantity,
        "names": "\n".join(req.names),
        "starts_at": starts_at,
        "amount": amount,
        "currency": CURRENCY,
        "payment_id": "",
        "status": "confirmed",
        "refund_amount": 0,
        "created_at": local_time(at),
        "run_id": ctx.run_id,
        "idempotency_key": ctx.idempotency_key or None,
    }


def _shown(booking_id: int, values: dict[str, Any], label: str) -> dict[str, Any]:
    """The answer for a booking just made, from its values (no query)."""
    shown = {k: values[k] for k in _Shown.__dataclass_fields__ if k != "id"}
    return _render(_Shown(id=booking_id, **shown), label, replayed=False)


def _answer_race(
    session: Session, key: str | None, req: _Request, conflict: Exception | None
) -> dict[str, Any]:
    """The answer when another call holds this key: its booking, if it asked for the same.

    ``conflict`` is the wallet's `IdempotencyConflict` when the payment's key was used outside
    travel (then there is no booking to answer with, and that error is the answer).
    """
    done = _by_key(session, key) if key else None
    if done is None:
        if conflict is not None:
            raise conflict
        raise ToolError("A booking with this idempotency key failed to load; retry.")
    return _check_replay(session, done, req)


def _book(
    ctx: ToolContext,
    req: _Request,
    amount: int,
    starts_at: datetime,
    take: Callable[[], bool],
    shortage: Callable[[], str],
    memo: str,
    label: str,
    at: datetime,
) -> dict[str, Any]:
    """Take the inventory (``take``), pay and record the booking at ``at``, all or nothing (one savepoint).

    The payment's key (derived from the call's) is claimed first inside `ledger.pay`: a racing
    call with the same key waits there, then gets the payment back as a replay, rolls its own
    seat back and answers with the first call's booking.
    """
    session = _session(ctx)
    key = ctx.idempotency_key or None
    values = _booking_values(ctx, req, amount, starts_at, at)
    try:
        with _savepoint(session):  # one savepoint: inventory, payment and booking together
            if not take():
                raise ToolError(shortage())
            payment = ledger.pay(
                session,
                user=ctx.user,
                amount=amount,
                currency=CURRENCY,
                merchant=MERCHANT[req.kind],
                memo=memo,
                idempotency_key=f"travel:{key}" if key else "",
                at=at,
                savepoint=False,  # this savepoint covers it
            )
            if payment.replayed:
                raise _Raced
            values["payment_id"] = payment.id
            booking_id = insert_unless_taken(session.connection(), _BOOKINGS, "idempotency_key", values)
            if booking_id is None:  # pragma: no cover - the payment's key is claimed first
                raise _Raced
    except _Raced:
        return _answer_race(session, key, req, None)
    except ledger.IdempotencyConflict as exc:
        return _answer_race(session, key, req, exc)
    return _shown(booking_id, values, label)


_BOOK_SEATS_CALL = text(
    "SELECT outcome, booking_id, payment_id FROM errand_book_seats("
    ":p_fare, :p_seats, :p_user, :p_merchant, :p_amount, :p_currency, :p_memo, :p_pay_key, :p_paid_at, "
    ":p_today, :p_kind, :p_item, :p_day, :p_cabin, :p_names, :p_starts_at, :p_created_at, :p_run, :p_key)"
)
"""PostgreSQL: a seat booking's writes in one round trip (the function is made by migration
7c2d3e4f5a6b): take the seats, pay, write the booking, or write nothing and say why."""


def _book_on_server(
    ctx: ToolContext,
    req: _Request,
    fare_id: int,
    amount: int,
    starts_at: datetime,
    shortage: Callable[[], str],
    memo: str,
    label: str,
    at: datetime,
) -> dict[str, Any]:
    """`_book` for seats on PostgreSQL: the same writes and answers, by the database's function."""
    session = _session(ctx)
    key = ctx.idempotency_key or None
    values = _booking_values(ctx, req, amount, starts_at, at)
    merchant, pay_key = MERCHANT[req.kind], f"travel:{key}" if key else ""
    args = ledger.payment_arguments(
        user=ctx.user,
        amount=amount,
        currency=CURRENCY,
        merchant=merchant,
        memo=memo,
        idempotency_key=pay_key,
        at=at,
    )
    row = (
        session.connection()
        .execute(
            _BOOK_SEATS_CALL,
            args
            | {
                "p_fare": fare_id,
                "p_seats": req.quantity,
                "p_kind": req.kind,
                "p_item": req.item_id,
                "p_day": req.day,
                "p_cabin": req.cabin,
                "p_names": values["names"],
                "p_starts_at": starts_at,
                "p_created_at": values["created_at"],
                "p_run": ctx.run_id,
                "p_key": key,
            },
        )
        .one()
    )
    if row.outcome == "short":
        raise ToolError(shortage())
    if row.outcome == "raced":  # the payment's key is taken: by this booking's first call, or not
        conflict = ledger.payment_conflict(
            session,
            user=ctx.user,
            amount=amount,
            currency=CURRENCY,
            merchant=merchant,
            idempotency_key=pay_key,
        )
        return _answer_race(session, key, req, conflict)
    if row.outcome != "booked":
        raise ledger.refusal(session, row.outcome, user=ctx.user, amount=amount, currency=CURRENCY, at=at)
    values["payment_id"] = row.payment_id
    return _shown(int(row.booking_id), values, label)
