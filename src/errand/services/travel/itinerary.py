"""Day-by-day sightseeing plans that keep to opening hours and leave time to get around.

A greedy planner: each day starts at `DAY_START` at the city centre; the next stop is the
open, unvisited sight that scores best on "how soon can we start there" plus a penalty for
being less famous, and only if the visit ends before it closes and before `DAY_END`.
Travel time between two places is `travel_minutes` (distance at city speed plus a margin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

DAY_START = 9 * 60
"""First visit of a day starts no earlier than 09:00."""
DAY_END = 21 * 60 + 30
"""Last visit of a day ends by 21:30."""
MAX_STOPS = 4
"""At most this many sights a day: a plan people can keep."""
RANK_WEIGHT = 25
"""Minutes of waiting or travel worth one place of popularity rank."""
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Sight:
    """What the planner needs to know about an attraction."""

    name: str
    rank: int
    opens_min: int
    closes_min: int
    closed_weekday: int | None
    visit_min: int
    price: int
    """Ticket in minor units."""
    lat: float
    lon: float


@dataclass(frozen=True)
class Stop:
    """One visit in a plan."""

    sight: Sight
    start_min: int
    end_min: int
    travel_min: int
    """Minutes to get here from the previous stop (or the city centre)."""


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    la1, lo1, la2, lo2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def travel_minutes(lat1: float, lon1: float, lat2: float, lon2: float) -> int:
    """Door-to-door minutes by taxi or metro: 15 minutes plus 25 km/h, rounded up to 5."""
    raw = 15 + km_between(lat1, lon1, lat2, lon2) / 25 * 60
    return math.ceil(raw / 5) * 5


def clock(minutes: int) -> str:
    """``HH:MM`` of minutes after midnight."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def plan(sights: list[Sight], start: date, days: int, centre: tuple[float, float]) -> list[list[Stop]]:
    """Stops per day for ``days`` days from ``start``; every sight at most once."""
    left = sorted(sights, key=lambda s: s.rank)
    out: list[list[Stop]] = []
    for n in range(days):
        weekday = (start + timedelta(n)).weekday()
        now, (lat, lon) = DAY_START, centre
        stops: list[Stop] = []
        while len(stops) < MAX_STOPS:
            best: tuple[int, Stop] | None = None
            for s in left:
                if s.closed_weekday == weekday:
                    continue
                travel = travel_minutes(lat, lon, s.lat, s.lon)
                begin = max(now + travel, s.opens_min)
                end = begin + s.visit_min
                if end > min(s.closes_min, DAY_END):
                    continue
                score = begin - now + RANK_WEIGHT * s.rank
                if best is None or score < best[0]:
                    best = (score, Stop(s, begin, end, travel))
            if best is None:
                break
            stop = best[1]
            stops.append(stop)
            left.remove(stop.sight)
            now, lat, lon = stop.end_min, stop.sight.lat, stop.sight.lon
        out.append(stops)
    return out


def weekday_name(day: date) -> str:
    """``Mon`` … ``Sun``."""
    return _WEEKDAYS[day.weekday()]
