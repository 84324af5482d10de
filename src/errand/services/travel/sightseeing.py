"""`build_itinerary`: a city's attractions planned day by day (the planner is `itinerary`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from errand.errors import ToolError
from errand.services.clock import local_day
from errand.services.travel import itinerary
from errand.services.travel.common import _city, _money, _session
from errand.services.travel.models import Attraction
from errand.tools import ToolContext, tool


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
    today = local_day(ctx.now())
    if start < today:
        raise ToolError(f"start_date {start.isoformat()} is in the past; today is {today.isoformat()}.")
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
