"""`book_hotel`: rooms for every night of a stay, for named guests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.clock import local_time
from errand.services.travel.booking import _book, _by_key, _check_replay, _Request
from errand.services.travel.common import (
    _HOTEL_OPTION,
    CHECK_IN,
    MAX_PEOPLE,
    _day,
    _lenient,
    _names,
    _parse_day,
    _session,
    _ymd,
)
from errand.services.travel.models import Hotel, RoomNight, TravelCity
from errand.services.travel.refunds import _refund_rule
from errand.services.travel.seed import CURRENCY, LAST_DAY
from errand.services.wallet import ledger
from errand.tools import Editable, FromResults, FromUser, ToolContext, tool


def _stay_replay(
    session: Session,
    ctx: ToolContext,
    raw_id: str,
    check_in: str | None,
    nights: int | None,
    rooms: int,
    names: list[str],
) -> dict[str, Any] | None:
    """The booking an earlier call with this key made, if any, checked against this request.

    Done before the dates are checked, so a repeat answers even after the stay has begun.
    """
    done = _by_key(session, ctx.idempotency_key) if ctx.idempotency_key else None
    m = _HOTEL_OPTION.fullmatch(raw_id)
    if done is None or m is None:
        return None
    if m.group(2):
        check_in = check_in or _ymd(m.group(2))
        nights = nights or int(m.group(3))
    first: date | None = _lenient(lambda: _parse_day(check_in or ""))
    if first is None:
        return None
    req = _Request("hotel", m.group(1).upper(), first, "room", nights or 1, rooms, names)
    return _check_replay(session, done, req)


@dataclass(frozen=True)
class _Stay:
    hotel: Hotel
    city: TravelCity
    first: date
    nights: int
    rooms: int
    total: int
    """Price of all rooms for all nights, minor units."""
    left: int
    """Fewest rooms left on any night."""


def _resolve_stay(
    session: Session, raw_id: str, check_in: str | None, nights: int | None, rooms: int, now: datetime
) -> _Stay:
    """The hotel, nights and price a booking or its confirmation talks about, at ``now`` (local time)."""
    m = _HOTEL_OPTION.fullmatch(raw_id)
    if not m:
        raise ToolError(f"Bad hotel id {raw_id!r}: ids look like H-BJ03 (see search_hotels).")
    if m.group(2):
        check_in = check_in or _ymd(m.group(2))
        nights = nights or int(m.group(3))
    hotel = session.get(Hotel, m.group(1).upper())
    if hotel is None:
        raise ToolError(f"No hotel {m.group(1).upper()}. Use search_hotels to find hotel ids.")
    if not check_in:
        raise ToolError("Give check_in (YYYY-MM-DD).")
    first = _day(check_in, now, "check_in")
    nights = nights or 1
    if not 1 <= nights <= 30:
        raise ToolError("nights must be between 1 and 30.")
    if not 1 <= rooms <= MAX_PEOPLE:
        raise ToolError(f"rooms must be between 1 and {MAX_PEOPLE}.")
    last = first + timedelta(nights - 1)
    if last > LAST_DAY:
        raise ToolError(f"Rooms are on sale until the night of {LAST_DAY.isoformat()}; stay fewer nights.")
    total, left = session.execute(
        select(func.sum(RoomNight.price), func.min(RoomNight.rooms_left)).where(
            RoomNight.hotel_id == hotel.id, RoomNight.night >= first, RoomNight.night <= last
        )
    ).one()
    city = session.get(TravelCity, hotel.city_id)
    assert city is not None
    return _Stay(hotel, city, first, nights, rooms, int(total) * rooms, int(left))


def _book_stay(
    ctx: ToolContext, hotel_id: str, check_in: str | None, nights: int | None, guests: list[str], rooms: int
) -> dict[str, Any]:
    session = _session(ctx)
    at = ctx.now()
    names = _names(guests, "guest")
    replay = _stay_replay(session, ctx, hotel_id, check_in, nights, rooms, names)
    if replay is not None:
        return replay
    stay = _resolve_stay(session, hotel_id, check_in, nights, rooms, local_time(at))
    req = _Request("hotel", stay.hotel.id, stay.first, "room", stay.nights, rooms, names)
    last = stay.first + timedelta(stay.nights - 1)
    in_stay = (RoomNight.hotel_id == stay.hotel.id, RoomNight.night >= stay.first, RoomNight.night <= last)

    def take() -> bool:
        res = session.execute(
            update(RoomNight)
            .where(*in_stay, RoomNight.rooms_left >= rooms)
            .values(rooms_left=RoomNight.rooms_left - rooms)
            .execution_options(synchronize_session=False)
        )
        # Every night or none: a short count means some night ran out (the savepoint undoes the rest).
        return res.rowcount == stay.nights  # type: ignore[attr-defined, no-any-return]

    def shortage() -> str:
        left = session.scalar(select(func.min(RoomNight.rooms_left)).where(*in_stay)) or 0
        where = f"{stay.hotel.name} from {stay.first.isoformat()} for {stay.nights} nights"
        if left == 0:
            return f"Sold out: no rooms left at {where}. Try another hotel or dates (search_hotels)."
        return f"Only {left} rooms left at {where}, but {rooms} were asked for. Book fewer rooms or another hotel."

    if stay.left < rooms:
        raise ToolError(shortage())
    return _book(
        ctx,
        req,
        stay.total,
        datetime.combine(stay.first, CHECK_IN),
        take,
        shortage,
        f"hotel {stay.hotel.name} {stay.first.isoformat()} x{stay.nights} nights x{rooms} rooms",
        f"{stay.hotel.id} {stay.hotel.name}",
        at,
    )


def _stay_confirm(args: dict[str, Any], ctx: ToolContext) -> str:
    raw = str(args.get("hotel_id") or "")
    people = [str(p) for p in args.get("guests") or []]
    rooms = int(args.get("rooms") or 1)
    try:
        session = _session(ctx)
        stay = _resolve_stay(
            session, raw, args.get("check_in"), args.get("nights"), rooms, local_time(ctx.now())
        )
        pay_line = ledger.describe_payment(session, ctx.user, stay.total, CURRENCY, quote_to=ctx)
    except ToolError as exc:
        return f"Book hotel {raw} for {', '.join(people)} (cannot price it: {exc})"
    out = stay.first + timedelta(stay.nights)
    return (
        f"Book {stay.hotel.name} ({stay.hotel.id}, {stay.city.name}), {stay.first.isoformat()} to "
        f"{out.isoformat()} ({stay.nights} nights, {rooms} room{'s' if rooms > 1 else ''}) for "
        f"{', '.join(people)}: pay {pay_line}. Refunds: {_refund_rule('hotel', 'room')}."
    )


@tool(domain="travel", risk="payment", confirm_text=_stay_confirm)
def book_hotel(
    ctx: ToolContext,
    hotel_id: Annotated[str, FromResults("option_id", "hotel_id", shape=r"H-[A-Z]{2}\d{2}(-\d{8}-\d+n)?")],
    guests: Annotated[list[str], FromUser("the full name of each guest"), Editable()],
    check_in: Annotated[str | None, Editable()] = None,
    nights: Annotated[int | None, Editable()] = None,
    rooms: Annotated[int, Editable()] = 1,
) -> dict[str, Any]:
    """Book and pay hotel rooms for named guests (needs the user's confirmation).

    Args:
        hotel_id: Hotel id like H-BJ03, or an option id from search_hotels.
        guests: Full name of each guest.
        check_in: Check-in day, YYYY-MM-DD (not needed with an option id).
        nights: Nights to stay (not needed with an option id).
        rooms: Rooms to book.
    """
    return _book_stay(ctx, hotel_id, check_in, nights, guests, rooms)
