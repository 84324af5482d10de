"""`book_flight` and `book_train`: seats on one service, day and class, for named passengers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from sqlalchemy import select

from errand.errors import ToolError
from errand.services.clock import local_time
from errand.services.travel import itinerary
from errand.services.travel.booking import (
    _SEAT_LOOKUP,
    _TAKE_SEATS,
    _book,
    _book_on_server,
    _by_key,
    _check_replay,
    _Request,
)
from errand.services.travel.common import (
    _cabin,
    _day,
    _lenient,
    _money,
    _names,
    _parse_day,
    _parse_option,
    _resolve_seat,
    _session,
)
from errand.services.travel.models import Fare
from errand.services.travel.refunds import _refund_rule
from errand.services.travel.seed import CURRENCY
from errand.services.wallet import ledger
from errand.tools import Editable, FromResults, FromUser, ToolContext, tool


def _seat_word(kind: str) -> str:
    return "flight" if kind == "flight" else "train"


def _book_seats(
    ctx: ToolContext, kind: str, raw_id: str, day_text: str | None, passengers: list[str], cabin: str | None
) -> dict[str, Any]:
    session = _session(ctx)
    at = ctx.now()
    now = local_time(at)
    names = _names(passengers, "passenger")
    sid, day_text, cabin = _parse_option(raw_id, day_text, cabin)
    word = _seat_word(kind)
    key = ctx.idempotency_key or None
    day: date | None = _lenient(lambda: _parse_day(day_text)) if day_text else None
    c: str | None = _lenient(lambda: _cabin(kind, cabin))
    row = (
        session.connection()
        .execute(_SEAT_LOOKUP, {"q_service": sid, "q_day": day, "q_cabin": c, "q_key": key})
        .first()
    )
    if row is None or row.kind != kind:
        raise ToolError(f"No {word} {sid}. Use search_{word}s to find {word} numbers.")
    n = len(names)
    if row.booked is not None and day is not None and c is not None:
        # A repeat of a call that booked: its booking, even if the trip has left since.
        done = _by_key(session, key or "")
        assert done is not None
        return _check_replay(session, done, _Request(kind, sid, day, c, 0, n, names))
    if not day_text:
        raise ToolError(f"Give the date of {sid} (YYYY-MM-DD).")
    day, c = _day(day_text, now), _cabin(kind, cabin)
    if row.fare_id is None:  # pragma: no cover - every service has fares on every timetable day
        raise ToolError(f"{sid} has no {c} fares on {day.isoformat()}.")
    departs = datetime.combine(day, time()) + timedelta(minutes=row.depart_min)
    if departs <= now:
        raise ToolError(f"{sid} on {day.isoformat()} has already left; pick a later date or {word}.")
    fare_id, where = int(row.fare_id), f"{sid} on {day.isoformat()} in {c}"

    def take() -> bool:
        res = session.connection().execute(_TAKE_SEATS, {"t_fare": fare_id, "t_n": n})
        return bool(res.rowcount)

    def shortage() -> str:
        left = session.scalar(select(Fare.seats_left).where(Fare.id == fare_id)) or 0
        if left == 0:
            return f"Sold out: no seats left on {where}. Try another class, {word} or date (search_{word}s)."
        return (
            f"Only {left} seats left on {where}, but {n} passengers were asked for. "
            f"Book {left} or fewer, or try another class, {word} or date."
        )

    if row.seats_left < n:
        raise ToolError(shortage())
    label = f"{sid} {row.origin} → {row.dest}"
    req, amount, memo = (
        _Request(kind, sid, day, c, 0, n, names),
        int(row.price) * n,
        f"{kind} {label} {day.isoformat()} {c} x{n}",
    )
    if session.connection().dialect.name == "postgresql":
        return _book_on_server(ctx, req, fare_id, amount, departs, shortage, memo, label, at)
    return _book(ctx, req, amount, departs, take, shortage, memo, label, at)


def _seat_confirm(kind: str, args: dict[str, Any], ctx: ToolContext) -> str:
    raw = str(args.get(f"{_seat_word(kind)}_id") or "")
    people = [str(p) for p in args.get("passengers") or []]
    try:
        session = _session(ctx)
        seat = _resolve_seat(
            session,
            kind,
            raw,
            args.get("date"),
            args.get("cabin") or args.get("seat_class"),
            local_time(ctx.now()),
        )
        total = seat.fare.price * len(people)
        pay_line = ledger.describe_payment(session, ctx.user, total, CURRENCY, quote_to=ctx)
    except ToolError as exc:
        return f"Book {kind} {raw} for {', '.join(people)} (cannot price it: {exc})"
    return (
        f"Book {seat.title()} on {seat.day.isoformat()} at {itinerary.clock(seat.svc.depart_min)}, "
        f"{seat.cabin}, for {', '.join(people)} ({len(people)} x {_money(seat.fare.price)}): "
        f"pay {pay_line}. Refunds: {_refund_rule(kind, seat.cabin)}."
    )


# Only the passengers are `Editable` on seats: an option id names its own day and class and wins
# over `date` and `cabin` (see `_parse_option`), so a changed date would not be what is booked.
# Another day is another search: the person rejects with a note saying which.
@tool(domain="travel", risk="payment", confirm_text=lambda args, ctx: _seat_confirm("flight", args, ctx))
def book_flight(
    ctx: ToolContext,
    flight_id: Annotated[
        str, FromResults("option_id", "flight_id", "flight", shape=r"[A-Z0-9]{2}\d{3,4}(-\d{8}-\w+)?")
    ],
    passengers: Annotated[list[str], FromUser("the full name of each passenger"), Editable()],
    date: str | None = None,
    cabin: str | None = None,
) -> dict[str, Any]:
    """Book and pay a flight for named passengers (needs the user's confirmation).

    Args:
        flight_id: Option id from search_flights, or a flight number with date.
        passengers: Full name of each passenger.
        date: Departure day, YYYY-MM-DD (not needed with an option id).
        cabin: economy or business (not needed with an option id).
    """
    return _book_seats(ctx, "flight", flight_id, date, passengers, cabin)


@tool(domain="travel", risk="payment", confirm_text=lambda args, ctx: _seat_confirm("train", args, ctx))
def book_train(
    ctx: ToolContext,
    train_id: Annotated[
        str, FromResults("option_id", "train_id", "train", shape=r"[GDCKTZ]\d{1,4}(-\d{8}-\w+)?")
    ],
    passengers: Annotated[list[str], FromUser("the full name of each passenger"), Editable()],
    date: str | None = None,
    seat_class: str | None = None,
) -> dict[str, Any]:
    """Book and pay high-speed train seats for named passengers (needs confirmation).

    Args:
        train_id: Option id from search_trains, or a train number with date.
        passengers: Full name of each passenger.
        date: Departure day, YYYY-MM-DD (not needed with an option id).
        seat_class: second or first (not needed with an option id).
    """
    return _book_seats(ctx, "train", train_id, date, passengers, seat_class)
