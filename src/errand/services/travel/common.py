"""What the travel tools share: the session, cities, dates, classes and option ids.

Prices in arguments are whole yuan; outputs give whole yuan plus a text such as
``"1,280.00 CNY"``. Times are local wall-clock times without a zone (timetables, check-in,
bookings): a tool reads ``local_time(ctx.now())`` once and hands it on as ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.travel import itinerary
from errand.services.travel.models import Fare, Hub, Service, TravelCity
from errand.services.travel.seed import CURRENCY, FIRST_DAY, LAST_DAY
from errand.services.wallet import ledger
from errand.tools import ToolContext

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


# ---- helpers -------------------------------------------------------------------------------


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


def _check_day(day: date, now: datetime, what: str = "date") -> date:
    """``day`` if it is in the timetable and not in the past (``now``: local time, as `local_time` gives it)."""
    today = now.date()
    if day < today:
        raise ToolError(f"{what} {day.isoformat()} is in the past; today is {today.isoformat()}.")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ToolError(
            f"No timetable for {day.isoformat()}: fares and rooms are on sale from "
            f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}."
        )
    return day


def _day(text: str, now: datetime, what: str = "date") -> date:
    """A date in the timetable that is not in the past at ``now`` (local time)."""
    return _check_day(_parse_day(text, what), now, what)


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


def _resolve_seat(
    session: Session, kind: str, raw_id: str, day_text: str | None, cabin: str | None, now: datetime
) -> _Seat:
    """The service, date, cabin and fare a confirmation or `get_trip_option` talks about, at ``now``
    (local time)."""
    sid, day_text, cabin = _parse_option(raw_id, day_text, cabin)
    svc = session.get(Service, sid)
    word = "flight" if kind == "flight" else "train"
    if svc is None or svc.kind != kind:
        raise ToolError(f"No {word} {sid}. Use search_{word}s to find {word} numbers.")
    if not day_text:
        raise ToolError(f"Give the date of {sid} (YYYY-MM-DD).")
    day = _day(day_text, now)
    c = _cabin(kind, cabin)
    fare = session.scalar(select(Fare).where(Fare.service_id == sid, Fare.day == day, Fare.cabin == c))
    if fare is None:  # pragma: no cover - every service has fares on every timetable day
        raise ToolError(f"{sid} has no {c} fares on {day.isoformat()}.")
    origin = session.get(TravelCity, svc.origin_city_id)
    dest = session.get(TravelCity, svc.dest_city_id)
    assert origin is not None and dest is not None
    seat = _Seat(svc, day, c, fare, origin, dest)
    if seat.departs <= now:
        raise ToolError(f"{sid} on {day.isoformat()} has already left; pick a later date or {word}.")
    return seat
