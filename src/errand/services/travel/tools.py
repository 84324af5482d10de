"""Travel tools: search flights, trains and hotels, plan days, book, cancel, list bookings.

Prices in arguments are whole yuan; outputs give whole yuan plus a text such as
``"1,280.00 CNY"``. Bookings decrement seats or rooms with one conditional UPDATE and pay
through the wallet inside one savepoint, so a sold-out seat, a failed payment or any
error after the seat update leaves seats, bookings and the ledger as they were.

Booking a seat is the hot path (many clients book at once), so it runs as a few Core
statements on the tables, each built once: one read of the service, fare, cities and any
booking already made under the call's idempotency key; then, in a savepoint, the seat
update, the wallet payment (claim its key, debit, both legs) and the booking insert.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from sqlalchemy import Date, Table, and_, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from errand.db.engine import insert_unless_taken
from errand.errors import ToolError
from errand.services.travel import itinerary
from errand.services.travel.models import (
    Attraction,
    Booking,
    Fare,
    Hotel,
    Hub,
    RoomNight,
    Service,
    TravelCity,
)
from errand.services.travel.seed import CURRENCY, FIRST_DAY, LAST_DAY, is_peak
from errand.services.wallet import ledger
from errand.tools import FromResults, FromUser, ToolContext, tool

TOP = 5
"""Options a search returns."""
MAX_PEOPLE = 9
"""Most passengers (or rooms) in one booking."""
CABINS = {"flight": ("economy", "business"), "train": ("second", "first")}
"""Cabins of flights and classes of trains."""
_CABIN_ALIASES = {
    "flight": {
        "y": "economy",
        "coach": "economy",
        "经济舱": "economy",
        "j": "business",
        "商务舱": "business",
        "first": "business",
        "头等舱": "business",
    },
    "train": {
        "economy": "second",
        "second class": "second",
        "二等座": "second",
        "2": "second",
        "business": "first",
        "first class": "first",
        "一等座": "first",
        "1": "first",
    },
}
MERCHANT = {"flight": "travel:flights", "train": "travel:trains", "hotel": "travel:hotels"}
"""Wallet merchant account of each kind of booking."""
CHECK_IN = time(14, 0)
"""Hotel check-in time (refund rules count from it)."""


# ---- small helpers ---------------------------------------------------------------------


def _now() -> datetime:
    """Local time now (a function so tests can move the clock)."""
    return datetime.now()


def _session(ctx: ToolContext) -> Session:
    if ctx.session is None:
        raise ToolError("The travel service has no database session; this is a setup error.")
    session: Session = ctx.session
    return session


def _money(minor: int) -> str:
    return ledger.money_text(minor, CURRENCY)


def _norm(name: str) -> str:
    s = re.sub(r"[\s'’\-]", "", name.strip().lower())
    for suffix in ("city", "市"):
        s = s.removesuffix(suffix)
    return s


def _city(session: Session, name: str) -> TravelCity:
    """The city called ``name`` (English, Chinese, code, or an airport/station code)."""
    cities = session.scalars(select(TravelCity).order_by(TravelCity.id)).all()
    key = _norm(name)
    for c in cities:
        if key in (_norm(c.name), _norm(c.name_zh), c.code.lower()):
            return c
    hub = session.get(Hub, name.strip().upper())
    if hub is not None:
        return next(c for c in cities if c.id == hub.city_id)
    known = ", ".join(f"{c.name} ({c.name_zh})" for c in cities)
    raise ToolError(f"Unknown city {name!r}. Known cities: {known}.")


def _parse_day(text: str, what: str = "date") -> date:
    """A date written YYYY-MM-DD (any date)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ToolError(f"Bad {what} {text!r}: use YYYY-MM-DD.") from None


def _check_day(day: date, what: str = "date") -> date:
    """``day`` if it is in the timetable and not in the past."""
    today = _now().date()
    if day < today:
        raise ToolError(f"{what} {day.isoformat()} is in the past; today is {today.isoformat()}.")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ToolError(
            f"No timetable for {day.isoformat()}: fares and rooms are on sale from "
            f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}."
        )
    return day


def _day(text: str, what: str = "date") -> date:
    """A date in the timetable that is not in the past."""
    return _check_day(_parse_day(text, what), what)


def _lenient(parse: Callable[[], Any]) -> Any:
    """``parse()``, or None where it raises `ToolError` (the error is raised later, in order)."""
    try:
        return parse()
    except ToolError:
        return None


def _clock_arg(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2}))?\s*", text)
    if not m or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59:
        raise ToolError(f"Bad {what} {text!r}: use a time like 08:00.")
    return int(m.group(1)) * 60 + int(m.group(2) or 0)


def _cabin(kind: str, cabin: str | None) -> str:
    c = (cabin or CABINS[kind][0]).strip().lower()
    c = _CABIN_ALIASES[kind].get(c, c)
    if c not in CABINS[kind]:
        raise ToolError(f"Unknown {kind} class {cabin!r}: use {' or '.join(CABINS[kind])}.")
    return c


def _names(raw: list[str], what: str) -> list[str]:
    names = [n.strip() for n in raw]
    if not names or any(not n for n in names):
        raise ToolError(f"Give every {what}'s full name; an empty name cannot be booked.")
    if len(names) > MAX_PEOPLE:
        raise ToolError(f"At most {MAX_PEOPLE} {what}s per booking; split the group.")
    return names


def _duration(minutes: int) -> str:
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _arrive(svc: Service) -> str:
    end = svc.depart_min + svc.duration_min
    return itinerary.clock(end % 1440) + (f" (+{end // 1440}d)" if end >= 1440 else "")


# ---- option ids ----------------------------------------------------------------------------

_OPTION = re.compile(r"\s*([A-Za-z0-9]{2,8})-(\d{8})-([a-z]+)\s*")
_HOTEL_OPTION = re.compile(r"\s*(H-[A-Za-z]{2}\d{2})(?:-(\d{8})-(\d{1,2})n)?\s*", re.IGNORECASE)


def _option_id(service_id: str, day: date, cabin: str) -> str:
    return f"{service_id}-{day:%Y%m%d}-{cabin}"


def _ymd(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


@dataclass(frozen=True)
class _Seat:
    """A resolved seat request: what would be booked."""

    svc: Service
    day: date
    cabin: str
    fare: Fare
    origin: TravelCity
    dest: TravelCity

    @property
    def departs(self) -> datetime:
        return datetime.combine(self.day, time()) + timedelta(minutes=self.svc.depart_min)

    def title(self) -> str:
        return f"{self.svc.kind} {self.svc.id} {self.origin.name} → {self.dest.name}"


def _parse_option(raw_id: str, day_text: str | None, cabin: str | None) -> tuple[str, str | None, str | None]:
    """Service id, date text and cabin of a seat request, from an option id or the separate arguments."""
    m = _OPTION.fullmatch(raw_id)
    if m:
        # An option id names its own date and class: they win over anything else given
        # (a small model fills `date` with today's date next to an option id).
        return m.group(1).upper(), _ymd(m.group(2)), m.group(3)
    return raw_id.strip().upper(), day_text, cabin


def _resolve_seat(session: Session, kind: str, raw_id: str, day_text: str | None, cabin: str | None) -> _Seat:
    """The service, date, cabin and fare a confirmation or `get_trip_option` talks about."""
    sid, day_text, cabin = _parse_option(raw_id, day_text, cabin)
    svc = session.get(Service, sid)
    word = "flight" if kind == "flight" else "train"
    if svc is None or svc.kind != kind:
        raise ToolError(f"No {word} {sid}. Use search_{word}s to find {word} numbers.")
    if not day_text:
        raise ToolError(f"Give the date of {sid} (YYYY-MM-DD).")
    day = _day(day_text)
    c = _cabin(kind, cabin)
    fare = session.scalar(select(Fare).where(Fare.service_id == sid, Fare.day == day, Fare.cabin == c))
    if fare is None:  # pragma: no cover - every service has fares on every timetable day
        raise ToolError(f"{sid} has no {c} fares on {day.isoformat()}.")
    origin = session.get(TravelCity, svc.origin_city_id)
    dest = session.get(TravelCity, svc.dest_city_id)
    assert origin is not None and dest is not None
    seat = _Seat(svc, day, c, fare, origin, dest)
    if seat.departs <= _now():
        raise ToolError(f"{sid} on {day.isoformat()} has already left; pick a later date or {word}.")
    return seat


# ---- search ----------------------------------------------------------------------------------


def _search(
    ctx: ToolContext,
    kind: str,
    origin: str,
    destination: str,
    date: str,
    cabin: str | None,
    max_price: int | None,
    depart_after: str | None,
    depart_before: str | None,
    max_stops: int | None,
) -> dict[str, Any]:
    session = _session(ctx)
    a, b = _city(session, origin), _city(session, destination)
    if a.id == b.id:
        raise ToolError("origin and destination are the same city.")
    day = _day(date)
    c = _cabin(kind, cabin)
    after, before = _clock_arg(depart_after, "depart_after"), _clock_arg(depart_before, "depart_before")
    word = "flights" if kind == "flight" else "trains"
    route = (Service.kind == kind, Service.origin_city_id == a.id, Service.dest_city_id == b.id)
    rows = session.execute(
        select(Service, Fare)
        .join(Fare, Fare.service_id == Service.id)
        .where(*route, Fare.day == day, Fare.cabin == c)
        .order_by(Fare.price, Service.depart_min, Service.id)
    ).all()
    head: dict[str, Any] = {"from": a.name, "to": b.name, "date": day.isoformat(), "class": c}
    if is_peak(day):
        head["note"] = "Lunar New Year (春节) peak: prices 1.6-2x and few seats left; book early."
    if not rows:
        other = "search_trains" if kind == "flight" else "search_flights"
        return head | {"matches": 0, "hint": f"No {word} run from {a.name} to {b.name}; try {other}."}
    matches = []
    for svc, fare in rows:
        if max_price is not None and fare.price > max_price * 100:
            continue
        if after is not None and svc.depart_min < after:
            continue
        if before is not None and svc.depart_min > before:
            continue
        if max_stops is not None and kind == "flight" and svc.stops > max_stops:
            continue
        matches.append((svc, fare))
    available = [(s, f) for s, f in matches if f.seats_left > 0]
    out = head | {"matches": len(available), "sold_out": len(matches) - len(available)}
    if not available:
        cheapest = min((f.price for _, f in rows if f.seats_left > 0), default=None)
        hint = f"Nothing left that matches. {len(rows)} {word} run that day"
        hint += (
            f"; the cheapest with seats is {_money(cheapest)}."
            if cheapest
            else ", all sold out in this class."
        )
        return out | {"hint": hint + " Relax a filter, change class or date."}
    options = [
        {
            "option_id": _option_id(s.id, day, c),
            word[:-1]: s.id,
            "depart": itinerary.clock(s.depart_min),
            "arrive": _arrive(s),
            "duration": _duration(s.duration_min),
            "stops": s.stops,
            **({"via": s.via} if s.via else {}),
            "price": f.price // 100,
            "price_text": _money(f.price),
            "seats_left": f.seats_left,
        }
        for s, f in available[:TOP]
    ]
    fastest = min(available, key=lambda sf: (sf[0].duration_min, sf[1].price))
    earliest = min(available, key=lambda sf: sf[0].depart_min)
    return out | {
        "options": options,
        "cheapest": options[0]["option_id"],
        "fastest": _option_id(fastest[0].id, day, c),
        "earliest": _option_id(earliest[0].id, day, c),
    }


@tool(domain="travel")
def search_flights(
    ctx: ToolContext,
    origin: str,
    destination: str,
    date: str,
    cabin: str = "economy",
    max_price: int | None = None,
    depart_after: str | None = None,
    depart_before: str | None = None,
    max_stops: int | None = None,
) -> dict[str, Any]:
    """Flights between two cities on a date, cheapest first, with seats left.

    Args:
        origin: City, e.g. Beijing.
        destination: City, e.g. Sanya.
        date: Departure day, YYYY-MM-DD.
        cabin: economy or business.
        max_price: Max price per seat, whole yuan.
        depart_after: Earliest departure, HH:MM.
        depart_before: Latest departure, HH:MM.
        max_stops: 0 for non-stop only.
    """
    return _search(
        ctx, "flight", origin, destination, date, cabin, max_price, depart_after, depart_before, max_stops
    )


@tool(domain="travel")
def search_trains(
    ctx: ToolContext,
    origin: str,
    destination: str,
    date: str,
    seat_class: str = "second",
    max_price: int | None = None,
    depart_after: str | None = None,
    depart_before: str | None = None,
) -> dict[str, Any]:
    """High-speed trains (高铁) between two cities on a date, cheapest first.

    Args:
        origin: City, e.g. Shanghai.
        destination: City, e.g. Hangzhou.
        date: Departure day, YYYY-MM-DD.
        seat_class: second or first.
        max_price: Max price per seat, whole yuan.
        depart_after: Earliest departure, HH:MM.
        depart_before: Latest departure, HH:MM.
    """
    return _search(
        ctx, "train", origin, destination, date, seat_class, max_price, depart_after, depart_before, None
    )


@tool(domain="travel")
def search_hotels(
    ctx: ToolContext,
    city: str,
    check_in: str,
    nights: int = 1,
    max_price_per_night: int | None = None,
    min_rating: float | None = None,
) -> dict[str, Any]:
    """Hotels with a room free every night of the stay, cheapest first.

    Args:
        city: City, e.g. Chengdu.
        check_in: Check-in day, YYYY-MM-DD.
        nights: Nights to stay.
        max_price_per_night: Max average price per night, whole yuan.
        min_rating: Lowest guest rating, out of 5.
    """
    session = _session(ctx)
    c = _city(session, city)
    first = _day(check_in, "check_in")
    if not 1 <= nights <= 30:
        raise ToolError("nights must be between 1 and 30.")
    last = first + timedelta(nights - 1)
    if last > LAST_DAY:
        raise ToolError(f"Rooms are on sale until the night of {LAST_DAY.isoformat()}; stay fewer nights.")
    rows = session.execute(
        select(Hotel, func.sum(RoomNight.price), func.min(RoomNight.rooms_left))
        .join(RoomNight, RoomNight.hotel_id == Hotel.id)
        .where(Hotel.city_id == c.id, RoomNight.night >= first, RoomNight.night <= last)
        .group_by(Hotel.id)
        .order_by(func.sum(RoomNight.price), Hotel.id)
    ).all()
    head: dict[str, Any] = {
        "city": c.name,
        "check_in": first.isoformat(),
        "check_out": (first + timedelta(nights)).isoformat(),
        "nights": nights,
    }
    if any(is_peak(first + timedelta(n)) for n in range(nights)):
        head["note"] = "Lunar New Year (春节) peak: rooms are scarce and cost 1.6-2x."
    fits = [
        (h, int(total), int(left))
        for h, total, left in rows
        if (max_price_per_night is None or total <= max_price_per_night * 100 * nights)
        and (min_rating is None or h.rating >= min_rating)
    ]
    free = [r for r in fits if r[2] > 0]
    out = head | {"matches": len(free), "full": len(fits) - len(free)}
    if not free:
        return out | {
            "hint": "No hotel with rooms matches; raise the price limit, lower min_rating or move dates."
        }
    options = [
        {
            "option_id": f"{h.id}-{first:%Y%m%d}-{nights}n",
            "hotel_id": h.id,
            "name": h.name,
            "stars": h.stars,
            "rating": h.rating,
            "per_night": total // nights // 100,
            "total": total // 100,
            "total_text": _money(total),
            "rooms_left": left,
        }
        for h, total, left in free[:TOP]
    ]
    best = max(free, key=lambda r: (r[0].rating, -r[1]))
    return out | {"options": options, "cheapest": options[0]["hotel_id"], "best_rated": best[0].id}


@tool(domain="travel")
def get_trip_option(ctx: ToolContext, option_id: str) -> dict[str, Any]:
    """Details of a flight, train or hotel option from a search.

    Args:
        option_id: e.g. CA1151-20270206-economy or H-BJ03-20270206-2n.
    """
    session = _session(ctx)
    hm = _HOTEL_OPTION.fullmatch(option_id)
    if hm:
        hotel = session.get(Hotel, hm.group(1).upper())
        if hotel is None:
            raise ToolError(f"No hotel {hm.group(1).upper()}. Use search_hotels to find hotel ids.")
        city = session.get(TravelCity, hotel.city_id)
        assert city is not None
        out: dict[str, Any] = {
            "hotel_id": hotel.id,
            "name": hotel.name,
            "city": city.name,
            "district": hotel.district,
            "stars": hotel.stars,
            "rating": hotel.rating,
            "check_in_time": CHECK_IN.strftime("%H:%M"),
            "refund_rule": _refund_rule("hotel", "room"),
        }
        if hm.group(2):
            first, nights = _day(_ymd(hm.group(2)), "check_in"), int(hm.group(3))
            nights_rows = session.scalars(
                select(RoomNight)
                .where(RoomNight.hotel_id == hotel.id, RoomNight.night >= first)
                .order_by(RoomNight.night)
                .limit(nights)
            ).all()
            total = sum(r.price for r in nights_rows)
            out["nights"] = {
                r.night.isoformat(): {"price": r.price // 100, "rooms_left": r.rooms_left}
                for r in nights_rows
            }
            out |= {"total": total // 100, "total_text": _money(total)}
        return out
    kind = "train" if option_id.strip().upper().startswith(("G", "D")) else "flight"
    seat = _resolve_seat(session, kind, option_id, None, None)
    s = seat.svc
    hubs = {
        h.code: h.name for h in session.scalars(select(Hub).where(Hub.code.in_([s.origin_hub, s.dest_hub])))
    }
    return {
        "option_id": _option_id(s.id, seat.day, seat.cabin),
        kind: s.id,
        "carrier": s.carrier,
        "from": f"{seat.origin.name}, {hubs[s.origin_hub]} ({s.origin_hub})",
        "to": f"{seat.dest.name}, {hubs[s.dest_hub]} ({s.dest_hub})",
        "date": seat.day.isoformat(),
        "depart": itinerary.clock(s.depart_min),
        "arrive": _arrive(s),
        "duration": _duration(s.duration_min),
        "stops": s.stops,
        **({"via": s.via} if s.via else {}),
        "distance_km": s.distance_km,
        "class": seat.cabin,
        "price": seat.fare.price // 100,
        "price_text": _money(seat.fare.price),
        "seats_left": seat.fare.seats_left,
        "refund_rule": _refund_rule(kind, seat.cabin),
    }


@tool(domain="travel")
def build_itinerary(ctx: ToolContext, city: str, start_date: str, days: int = 2) -> dict[str, Any]:
    """A day-by-day sightseeing plan that fits opening hours and travel time.

    Args:
        city: City, e.g. Xi'an.
        start_date: First day, YYYY-MM-DD.
        days: Number of days, 1-7.
    """
    session = _session(ctx)
    c = _city(session, city)
    try:
        start = date.fromisoformat(start_date.strip())
    except ValueError:
        raise ToolError(f"Bad start_date {start_date!r}: use YYYY-MM-DD.") from None
    if start < _now().date():
        raise ToolError(
            f"start_date {start.isoformat()} is in the past; today is {_now().date().isoformat()}."
        )
    if not 1 <= days <= 7:
        raise ToolError("days must be between 1 and 7.")
    rows = session.scalars(
        select(Attraction).where(Attraction.city_id == c.id).order_by(Attraction.rank)
    ).all()
    sights = [
        itinerary.Sight(
            name=f"{a.name} ({a.name_zh})",
            rank=a.rank,
            opens_min=a.opens_min,
            closes_min=a.closes_min,
            closed_weekday=a.closed_weekday,
            visit_min=a.visit_min,
            price=a.price,
            lat=a.lat,
            lon=a.lon,
        )
        for a in rows
    ]
    plan = itinerary.plan(sights, start, days, (c.lat, c.lon))
    out_days = []
    tickets = 0
    for n, stops in enumerate(plan):
        day = start + timedelta(n)
        out_days.append(
            {
                "date": f"{day.isoformat()} {itinerary.weekday_name(day)}",
                "stops": [
                    {
                        "time": f"{itinerary.clock(s.start_min)}-{itinerary.clock(s.end_min)}",
                        "place": s.sight.name,
                        "travel_min": s.travel_min,
                        "open": f"{itinerary.clock(s.sight.opens_min)}-{itinerary.clock(s.sight.closes_min)}",
                        "ticket": s.sight.price // 100,
                    }
                    for s in stops
                ]
                or "free day",
            }
        )
        tickets += sum(s.sight.price for s in stops)
    return {
        "city": c.name,
        "days": out_days,
        "tickets_per_person": tickets // 100,
        "tickets_text": _money(tickets),
    }


# ---- booking -------------------------------------------------------------------------------


def _refund_rule(kind: str, cabin: str) -> str:
    if kind == "hotel":
        return "free cancellation until the day before check-in; later, the first night is not refunded"
    if kind == "train":
        return "95% back over 48 h before departure, 90% over 24 h, 80% later"
    if cabin == "business":
        return "100% back over 24 h before departure, 50% later"
    return "80% back over 24 h before departure, nothing later"


def _refund_for(b: Booking, now: datetime) -> int:
    """What cancelling ``b`` at ``now`` gives back, in minor units."""
    if b.kind == "hotel":
        if now.date() < b.day:
            return b.amount
        return b.amount * (b.nights - 1) // b.nights
    hours = (b.starts_at - now).total_seconds() / 3600
    if b.kind == "train":
        pct = 95 if hours > 48 else 90 if hours > 24 else 80
    elif b.cabin == "business":
        pct = 100 if hours > 24 else 50
    else:
        pct = 80 if hours > 24 else 0
    return b.amount * pct // 100


def _booking_id(raw: str) -> int:
    m = re.fullmatch(r"\s*(?:BK-?)?(\d{1,9})\s*", raw, re.IGNORECASE)
    if not m:
        raise ToolError(f"Bad booking id {raw!r}: ids look like BK-000042 (see list_my_bookings).")
    return int(m.group(1))


def _view(session: Session, b: Booking, replayed: bool) -> dict[str, Any]:
    """A booking as the model and the user see it."""
    return _render(b, _item_label(session, b), replayed)


def _item_label(session: Session, b: Booking) -> str | None:
    """``H-BJ03 Hotel name`` or ``CA1501 Beijing → Shanghai`` (None for a service no longer there)."""
    if b.kind == "hotel":
        hotel = session.get(Hotel, b.item_id)
        return f"{b.item_id} {hotel.name if hotel else ''}".strip()
    svc = session.get(Service, b.item_id)
    if svc is None:
        return None
    a, z = session.get(TravelCity, svc.origin_city_id), session.get(TravelCity, svc.dest_city_id)
    return f"{svc.id} {a.name if a else ''} → {z.name if z else ''}"


@dataclass(frozen=True)
class _Shown:
    """What `_render` reads of a booking: a new booking is shown from its values, without an ORM object."""

    id: int
    status: str
    kind: str
    item_id: str
    day: date
    nights: int
    cabin: str
    quantity: int
    names: str
    starts_at: datetime
    amount: int
    payment_id: str
    refund_amount: int


def _render(b: Booking | _Shown, label: str | None, replayed: bool) -> dict[str, Any]:
    """`_view` once the item's label is known (a new booking knows it without a query)."""
    names = b.names.split("\n")
    out: dict[str, Any] = {"booking_id": f"BK-{b.id:06d}", "status": b.status, "kind": b.kind}
    if b.kind == "hotel":
        out |= {
            "hotel": label or b.item_id,
            "check_in": b.day.isoformat(),
            "check_out": (b.day + timedelta(b.nights)).isoformat(),
            "nights": b.nights,
            "rooms": b.quantity,
            "guests": names,
        }
    else:
        if label is not None:
            out[b.kind] = label
        out |= {
            "date": b.day.isoformat(),
            "depart": b.starts_at.strftime("%H:%M"),
            "class": b.cabin,
            "passengers": names,
        }
    out |= {"total": b.amount // 100, "total_text": _money(b.amount), "payment_id": b.payment_id}
    if b.status == "cancelled":
        out |= {"refund": b.refund_amount // 100, "refund_text": _money(b.refund_amount)}
    else:
        out["refund_rule"] = _refund_rule(b.kind, b.cabin)
    return out | {"replayed": replayed}


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


def _booking_values(ctx: ToolContext, req: _Request, amount: int, starts_at: datetime) -> dict[str, Any]:
    """A new booking's row, but for its ``payment_id``."""
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
        "created_at": _now(),
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
) -> dict[str, Any]:
    """Take the inventory (``take``), pay and record the booking, all or nothing (one savepoint).

    The payment's key (derived from the call's) is claimed first inside `ledger.pay`: a racing
    call with the same key waits there, then gets the payment back as a replay, rolls its own
    seat back and answers with the first call's booking.
    """
    session = _session(ctx)
    key = ctx.idempotency_key or None
    values = _booking_values(ctx, req, amount, starts_at)
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
) -> dict[str, Any]:
    """`_book` for seats on PostgreSQL: the same writes and answers, by the database's function."""
    session = _session(ctx)
    key = ctx.idempotency_key or None
    values = _booking_values(ctx, req, amount, starts_at)
    merchant, pay_key = MERCHANT[req.kind], f"travel:{key}" if key else ""
    args = ledger.payment_arguments(
        user=ctx.user, amount=amount, currency=CURRENCY, merchant=merchant, memo=memo, idempotency_key=pay_key
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
        raise ledger.refusal(session, row.outcome, user=ctx.user, amount=amount, currency=CURRENCY)
    values["payment_id"] = row.payment_id
    return _shown(int(row.booking_id), values, label)


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


def _seat_word(kind: str) -> str:
    return "flight" if kind == "flight" else "train"


def _book_seats(
    ctx: ToolContext, kind: str, raw_id: str, day_text: str | None, passengers: list[str], cabin: str | None
) -> dict[str, Any]:
    session = _session(ctx)
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
    day, c = _day(day_text), _cabin(kind, cabin)
    if row.fare_id is None:  # pragma: no cover - every service has fares on every timetable day
        raise ToolError(f"{sid} has no {c} fares on {day.isoformat()}.")
    departs = datetime.combine(day, time()) + timedelta(minutes=row.depart_min)
    if departs <= _now():
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
        return _book_on_server(ctx, req, fare_id, amount, departs, shortage, memo, label)
    return _book(ctx, req, amount, departs, take, shortage, memo, label)


def _seat_confirm(kind: str, args: dict[str, Any], ctx: ToolContext) -> str:
    raw = str(args.get(f"{_seat_word(kind)}_id") or "")
    people = [str(p) for p in args.get("passengers") or []]
    try:
        session = _session(ctx)
        seat = _resolve_seat(
            session, kind, raw, args.get("date"), args.get("cabin") or args.get("seat_class")
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


@tool(domain="travel", risk="payment", confirm_text=lambda args, ctx: _seat_confirm("flight", args, ctx))
def book_flight(
    ctx: ToolContext,
    flight_id: Annotated[str, FromResults("option_id", "flight_id", "flight")],
    passengers: Annotated[list[str], FromUser("the full name of each passenger")],
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
    train_id: Annotated[str, FromResults("option_id", "train_id", "train")],
    passengers: Annotated[list[str], FromUser("the full name of each passenger")],
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
    session: Session, raw_id: str, check_in: str | None, nights: int | None, rooms: int
) -> _Stay:
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
    first = _day(check_in, "check_in")
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
    names = _names(guests, "guest")
    replay = _stay_replay(session, ctx, hotel_id, check_in, nights, rooms, names)
    if replay is not None:
        return replay
    stay = _resolve_stay(session, hotel_id, check_in, nights, rooms)
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
    )


def _stay_confirm(args: dict[str, Any], ctx: ToolContext) -> str:
    raw = str(args.get("hotel_id") or "")
    people = [str(p) for p in args.get("guests") or []]
    rooms = int(args.get("rooms") or 1)
    try:
        session = _session(ctx)
        stay = _resolve_stay(session, raw, args.get("check_in"), args.get("nights"), rooms)
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
    hotel_id: Annotated[str, FromResults("option_id", "hotel_id")],
    guests: Annotated[list[str], FromUser("the full name of each guest")],
    check_in: str | None = None,
    nights: int | None = None,
    rooms: int = 1,
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


# ---- cancel and list -----------------------------------------------------------------------


def _mine(session: Session, ctx: ToolContext, booking_id: str) -> Booking:
    bid = _booking_id(booking_id)
    b = session.get(Booking, bid, populate_existing=True)
    if b is None or b.user != ctx.user:
        raise ToolError(f"No booking BK-{bid:06d} for {ctx.user}. See list_my_bookings.")
    return b


def _cancel_confirm(args: dict[str, Any], ctx: ToolContext) -> str:
    raw = str(args.get("booking_id") or "")
    try:
        session = _session(ctx)
        b = _mine(session, ctx, raw)
    except ToolError as exc:
        return f"Cancel booking {raw} ({exc})"
    give = _refund_for(b, _now())
    return (
        f"Cancel BK-{b.id:06d} ({b.kind} {b.item_id} on {b.day.isoformat()}, paid {_money(b.amount)}): "
        f"refund {_money(give)} to {ctx.user}'s wallet under the rule: {_refund_rule(b.kind, b.cabin)}."
    )


@tool(domain="travel", risk="write", confirm_text=_cancel_confirm)
def cancel_booking(
    ctx: ToolContext, booking_id: Annotated[str, FromResults("booking_id", "id")]
) -> dict[str, Any]:
    """Cancel a flight, train or hotel booking (BK-...); refunds by its fare rule.

    Args:
        booking_id: Id like BK-000042.
    """
    session = _session(ctx)
    b = _mine(session, ctx, booking_id)
    key = ctx.idempotency_key or None
    if key is not None:
        other = session.scalar(select(Booking).where(Booking.cancel_key == key))
        if other is not None and other.id != b.id:
            raise ToolError(
                f"This call's idempotency key already cancelled BK-{other.id:06d}; not cancelling another."
            )
    if b.status == "cancelled":
        return _view(session, b, replayed=True)
    now = _now()
    if now >= b.starts_at:
        raise ToolError(
            f"BK-{b.id:06d} has already started ({b.starts_at:%Y-%m-%d %H:%M}); it cannot be cancelled."
        )
    give = _refund_for(b, now)
    try:
        with session.begin_nested():
            res = session.execute(
                update(Booking)
                .where(Booking.id == b.id, Booking.status == "confirmed")
                .values(status="cancelled", cancel_key=key, cancelled_at=now, refund_amount=give)
                .execution_options(synchronize_session=False)
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                raise _Raced
            if b.kind == "hotel":
                last = b.day + timedelta(b.nights - 1)
                session.execute(
                    update(RoomNight)
                    .where(RoomNight.hotel_id == b.item_id, RoomNight.night >= b.day, RoomNight.night <= last)
                    .values(rooms_left=RoomNight.rooms_left + b.quantity)
                    .execution_options(synchronize_session=False)
                )
            else:
                session.execute(
                    update(Fare)
                    .where(Fare.service_id == b.item_id, Fare.day == b.day, Fare.cabin == b.cabin)
                    .values(seats_left=Fare.seats_left + b.quantity)
                    .execution_options(synchronize_session=False)
                )
            if give:
                r = ledger.refund(
                    session,
                    payment_id=b.payment_id,
                    amount=give,
                    memo=f"cancel BK-{b.id:06d}",
                    idempotency_key=f"travel:cancel:{b.id}",
                )
                session.execute(
                    update(Booking)
                    .where(Booking.id == b.id)
                    .values(refund_id=r.id)
                    .execution_options(synchronize_session=False)
                )
    except _Raced:
        return _view(session, _mine(session, ctx, booking_id), replayed=True)
    return _view(session, _mine(session, ctx, booking_id), replayed=False)


@tool(domain="travel")
def list_my_bookings(ctx: ToolContext) -> dict[str, Any]:
    """My flight, train and hotel bookings, newest first."""
    session = _session(ctx)
    rows = session.scalars(
        select(Booking)
        .where(Booking.user == ctx.user)
        .order_by(Booking.id.desc())
        .limit(10)
        .execution_options(populate_existing=True)
    ).all()
    count = session.scalar(select(func.count()).select_from(Booking).where(Booking.user == ctx.user)) or 0
    latest = [{k: v for k, v in _view(session, b, False).items() if k != "replayed"} for b in rows]
    return {"user": ctx.user, "bookings": count, "latest": latest}


TOOLS = (
    search_flights,
    search_trains,
    search_hotels,
    get_trip_option,
    build_itinerary,
    book_flight,
    book_train,
    book_hotel,
    cancel_booking,
    list_my_bookings,
)
"""The domain's tools in their fixed order."""
