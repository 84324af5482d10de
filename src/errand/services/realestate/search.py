"""Finding homes: `search_listings` (counts, the cheapest, a plain list) and `analyze_listings`
(ranked by a stated value score, with a chart)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from sqlalchemy import ColumnElement

from errand.services.realestate import analysis
from errand.services.realestate.common import (
    MAX_LIMIT,
    _area_avgs,
    _candidate,
    _city_avg,
    _money_text,
    _place,
    _session,
    _summary,
)
from errand.services.realestate.filters import _base_query, _count, _make_filters, _relax
from errand.services.realestate.models import Listing, School
from errand.tools import ToolContext, tool

SortBy = Literal["price", "price_per_m2", "area", "newest", "school", "metro"]


_ORDER: dict[str, tuple[ColumnElement[Any], ...]] = {
    "price": (Listing.price.asc(),),
    "price_per_m2": ((Listing.price / Listing.area_m2).asc(),),
    "area": (Listing.area_m2.desc(),),
    "newest": (Listing.year_built.desc(),),
    "school": (School.rating.desc(), Listing.school_distance_m.asc()),
    "metro": (Listing.metro_distance_m.asc(),),
}


@tool(domain="realestate")
def search_listings(
    ctx: ToolContext,
    city: str,
    bedrooms: int | None = None,
    min_bedrooms: int | None = None,
    max_price: int | None = None,
    min_price: int | None = None,
    min_area: float | None = None,
    max_area: float | None = None,
    neighbourhood: str | None = None,
    min_school_rating: int | None = None,
    max_school_distance_m: int | None = None,
    max_metro_distance_m: int | None = None,
    sort_by: SortBy = "price",
    limit: int = 5,
) -> dict[str, Any]:
    """Search homes for sale in a city; returns the match count and the top results.

    Args:
        city: City name, e.g. Hangzhou.
        bedrooms: Exact bedrooms.
        min_bedrooms: At least this many bedrooms.
        max_price: Highest price (under, within, 以内) in whole yuan/SGD (600万 = 6000000).
        min_price: Lowest price (over, at least, 以上), only if the user gave one.
        min_area: Min floor area m², only if asked.
        max_area: Max floor area, m².
        neighbourhood: District, only if the user named one.
        min_school_rating: Lowest school rating 1-10 (学校), only if asked.
        max_school_distance_m: Max metres to that school.
        max_metro_distance_m: Max metres to a metro station (地铁), only if asked.
        sort_by: Order of results.
        limit: Results to return.
    """
    session = _session(ctx)
    c, neighbourhood = _place(session, city, neighbourhood)
    f = _make_filters(
        session,
        c,
        bedrooms=bedrooms,
        min_bedrooms=min_bedrooms,
        max_price=max_price,
        min_price=min_price,
        min_area=min_area,
        max_area=max_area,
        neighbourhood=neighbourhood,
        min_school_rating=min_school_rating,
        max_school_distance_m=max_school_distance_m,
        max_metro_distance_m=max_metro_distance_m,
    )
    n = _count(session, c, f)
    head = {"city": c.name, "currency": c.currency, "sort_by": sort_by}
    if n == 0:
        return head | _relax(session, c, f)
    limit = min(max(limit, 1), MAX_LIMIT)
    rows = session.execute(_base_query(c, f).order_by(*_ORDER[sort_by], Listing.id).limit(limit)).all()
    return head | {"matches": n, "results": [_summary(*r) for r in rows]}


@tool(domain="realestate")
def analyze_listings(
    ctx: ToolContext,
    city: str,
    bedrooms: int | None = None,
    max_price: int | None = None,
    min_price: int | None = None,
    max_metro_distance_m: int | None = None,
    min_area: float | None = None,
    neighbourhood: str | None = None,
    min_school_rating: int | None = None,
    max_school_distance_m: int = 1000,
    limit: int = 5,
) -> dict[str, Any]:
    """Find matching homes, rank them by a value score, and chart them; use to recommend.

    Args:
        city: City name, e.g. Hangzhou.
        bedrooms: Exact bedrooms.
        max_price: Highest price (under, within, 以内) in whole yuan/SGD (600万 = 6000000).
        min_price: Lowest price (over, at least, 以上), only if the user gave one.
        max_metro_distance_m: Max metres to a metro station (地铁), only if asked.
        min_area: Min floor area m², only if asked.
        neighbourhood: District, only if the user named one.
        min_school_rating: Lowest school rating 1-10 (学校), only if asked.
        max_school_distance_m: Max metres to that school.
        limit: Top homes to return.
    """
    session = _session(ctx)
    c, neighbourhood = _place(session, city, neighbourhood)
    f = _make_filters(
        session,
        c,
        bedrooms=bedrooms,
        max_price=max_price,
        min_price=min_price,
        min_area=min_area,
        neighbourhood=neighbourhood,
        min_school_rating=min_school_rating,
        max_school_distance_m=max_school_distance_m if min_school_rating is not None else None,
        max_metro_distance_m=max_metro_distance_m,
    )
    head = {"city": c.name, "currency": c.currency}
    rows = session.execute(_base_query(c, f)).all()
    if not rows:
        return head | _relax(session, c, f)
    avgs = _area_avgs(session, c.id)
    ranked = analysis.rank([_candidate(*r, avgs) for r in rows])
    top = ranked[: min(max(limit, 1), MAX_LIMIT)]
    args = {
        "city": c.name,
        "bedrooms": bedrooms,
        "max_price": max_price,
        "min_school_rating": min_school_rating,
        "max_school_distance_m": max_school_distance_m,
        "min_price": min_price,
        "min_area": min_area,
        "neighbourhood": neighbourhood,
        "max_metro_distance_m": max_metro_distance_m,
        "limit": limit,
    }
    digest = hashlib.sha1(json.dumps(args, sort_keys=True).encode()).hexdigest()[:10]
    city_avg = _city_avg(session, c)
    chart = analysis.save_chart(
        ctx.artifacts_dir / f"analysis-{c.name.lower()}-{digest}.png",
        [cand for cand, _ in ranked],
        [cand.id for cand, _ in top],
        city_avg,
        f"{c.name}: {len(rows)} matches, price per m² vs neighbourhood average",
        c.currency,
    )
    # The conclusion comes last: a small model answers with the last id it read, so the
    # cheapest (a common follow-up) goes before the ranking and the best value closes it.
    return head | {
        "matches": len(rows),
        "city_avg_per_m2": city_avg,
        "score_formula": analysis.SCORE_FORMULA,
        "cheapest": _cheapest(ranked, c.currency),
        "top": [
            {
                "rank": i,
                "id": cand.id,
                "score": s,
                "neighbourhood": cand.neighbourhood,
                "price": cand.price,
                "price_text": _money_text(cand.price, c.currency),
                "area_m2": cand.area_m2,
                "price_per_m2": cand.price_per_m2,
                "why": analysis.why(cand),
            }
            for i, (cand, s) in enumerate(top, start=1)
        ],
        "best_value": _best(top, c.currency),
        "chart": str(chart),
    }


def _best(top: list[tuple[analysis.Candidate, float]], currency: str) -> dict[str, Any]:
    """The top-ranked home again, named outright after the list, with why it wins (an answer
    that copies it still says why)."""
    cand, score = top[0]
    return {
        "id": cand.id,
        "score": score,
        "price_text": _money_text(cand.price, currency),
        "why": analysis.why(cand),
    }


def _cheapest(ranked: list[tuple[analysis.Candidate, float]], currency: str) -> dict[str, Any]:
    """The lowest-priced match, named outright: "…then the cheapest" is a common follow-up."""
    cand = min((c for c, _ in ranked), key=lambda c: (c.price, c.id))
    return {"id": cand.id, "price": cand.price, "price_text": _money_text(cand.price, currency)}
