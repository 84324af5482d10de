"""One listing in full (`get_listing`), or several side by side (`compare_listings`)."""

from __future__ import annotations

from typing import Annotated, Any

from sqlalchemy import select

from errand.errors import ToolError
from errand.services.realestate import analysis
from errand.services.realestate.common import (
    _area_avgs,
    _candidate,
    _listing,
    _listing_id,
    _session,
    _summary,
)
from errand.services.realestate.models import City, Listing, Neighbourhood, School
from errand.tools import FromResults, ToolContext, tool


@tool(domain="realestate")
def get_listing(
    ctx: ToolContext, listing_id: Annotated[str, FromResults("id", "listing_id", shape=r"[A-Z]{2}-\d{5}")]
) -> dict[str, Any]:
    """Full details of one listing.

    Args:
        listing_id: Id like HZ-00042.
    """
    session = _session(ctx)
    home = _listing(session, listing_id)
    s = session.get_one(School, home.school_id)
    h = session.get_one(Neighbourhood, home.neighbourhood_id)
    c = session.get_one(City, home.city_id)
    avg = _area_avgs(session, c.id)[h.id]
    out = _summary(home, s, h) | {
        "city": c.name,
        "currency": home.currency,
        "title": home.title,
        "estate": home.estate,
        "bathrooms": home.bathrooms,
        "floor": f"{home.floor}/{home.total_floors}",
        "area_avg_per_m2": avg,
        "vs_area_avg_pct": _candidate(home, s, h, {h.id: avg}).vs_area_pct,
        "school": f"{s.name} ({s.level}, {s.rating}/10)",
        "listed_on": home.listed_on.isoformat(),
        "status": home.status,
    }
    return out


@tool(domain="realestate")
def compare_listings(
    ctx: ToolContext,
    listing_ids: Annotated[list[str], FromResults("id", "listing_id", shape=r"[A-Z]{2}-\d{5}")],
) -> dict[str, Any]:
    """Compare 2-6 listings side by side, with value scores.

    Args:
        listing_ids: Ids like HZ-00042.
    """
    session = _session(ctx)
    ids = list(dict.fromkeys(_listing_id(i) for i in listing_ids))
    if not 2 <= len(ids) <= 6:
        raise ToolError("Give 2 to 6 different listing ids to compare.")
    rows = session.execute(
        select(Listing, School, Neighbourhood)
        .join(School, Listing.school_id == School.id)
        .join(Neighbourhood, Listing.neighbourhood_id == Neighbourhood.id)
        .where(Listing.id.in_(ids))
    ).all()
    by_id = {r[0].id: r for r in rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ToolError(f"No listing {', '.join(missing)}. Use search_listings to find ids.")
    avgs: dict[int, int] = {}
    for city_id in {r[0].city_id for r in rows}:
        avgs |= _area_avgs(session, city_id)
    out: list[dict[str, Any]] = []
    cands: dict[str, analysis.Candidate] = {}
    for i in ids:
        home, s, h = by_id[i]
        cand = _candidate(home, s, h, avgs)
        cands[i] = cand
        out.append(
            _summary(home, s, h)
            | {
                "currency": home.currency,
                "vs_area_avg_pct": cand.vs_area_pct,
                "school": s.name,
                "status": home.status,
                "score": analysis.score(cand),
            }
        )
    return {
        "listings": out,
        "best_value": analysis.rank(list(cands.values()))[0][0].id,
        "most_below_area_avg": min(ids, key=lambda i: cands[i].vs_area_pct),
        "best_school": max(ids, key=lambda i: (cands[i].school_rating, -cands[i].school_distance_m)),
        "nearest_metro": min(ids, key=lambda i: cands[i].metro_distance_m),
        "score_formula": analysis.SCORE_FORMULA,
    }
