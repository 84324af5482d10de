"""Searching: flights, trains and hotels with seats or rooms left, and one option's details."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from sqlalchemy import func, select

from errand.errors import ToolError
from errand.services.clock import local_time
from errand.services.travel import itinerary
from errand.services.travel.common import (
    _HOTEL_OPTION,
    CHECK_IN,
    TOP,
    _arrive,
    _cabin,
    _city,
    _clock_arg,
    _day,
    _duration,
    _money,
    _option_id,
    _resolve_seat,
    _session,
    _ymd,
)
from errand.services.travel.models import Fare, Hotel, Hub, RoomNight, Service, TravelCity
from errand.services.travel.refunds import _refund_rule
from errand.services.travel.seed import LAST_DAY, is_peak
from errand.tools import FromResults, ToolContext, tool


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
    arrive_before: str | None = None,
) -> dict[str, Any]:
    session = _session(ctx)
    a, b = _city(session, origin), _city(session, destination)
    if a.id == b.id:
        raise ToolError("origin and destination are the same city.")
    day = _day(date, local_time(ctx.now()))
    c = _cabin(kind, cabin)
    after, before = _clock_arg(depart_after, "depart_after"), _clock_arg(depart_before, "depart_before")
    arrive_by = _clock_arg(arrive_before, "arrive_before")
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
        if arrive_by is not None and svc.depart_min + svc.duration_min > arrive_by:
            continue  # "be there by 2pm": the same day, by that time
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
    arrive_before: str | None = None,
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
        arrive_before: Latest arrival, HH:MM ("be there by 2pm").
    """
    return _search(
        ctx,
        "flight",
        origin,
        destination,
        date,
        cabin,
        max_price,
        depart_after,
        depart_before,
        max_stops,
        arrive_before,
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
    arrive_before: str | None = None,
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
        arrive_before: Latest arrival, HH:MM ("be there by 2pm").
    """
    return _search(
        ctx,
        "train",
        origin,
        destination,
        date,
        seat_class,
        max_price,
        depart_after,
        depart_before,
        None,
        arrive_before,
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
    first = _day(check_in, local_time(ctx.now()), "check_in")
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
def get_trip_option(ctx: ToolContext, option_id: Annotated[str, FromResults("option_id")]) -> dict[str, Any]:
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
            first, nights = _day(_ymd(hm.group(2)), local_time(ctx.now()), "check_in"), int(hm.group(3))
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
    seat = _resolve_seat(session, kind, option_id, None, None, local_time(ctx.now()))
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
