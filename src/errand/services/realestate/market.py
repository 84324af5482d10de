"""The market: prices per m² by neighbourhood (`neighbourhood_stats`) and over time (`price_trend`)."""

from __future__ import annotations

import statistics
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errand.services.realestate.common import MINOR_PER_UNIT, _city_avg, _hood, _place, _session
from errand.services.realestate.models import Listing, Neighbourhood, PriceHistory, School
from errand.tools import ToolContext, tool


def _change_pct(first: int, last: int) -> float:
    return round((last / first - 1) * 100, 1)


def _history(session: Session, hood_ids: list[int], months: int) -> list[tuple[date, int]]:
    """Monthly price per m² (minor units) over the last ``months`` months.

    Several neighbourhoods are averaged with fixed weights (each one's sales over the
    whole history), so the mix of a month's sales cannot move the index on its own.
    """
    rows = session.execute(
        select(
            PriceHistory.neighbourhood_id,
            PriceHistory.month,
            PriceHistory.price_per_m2,
            PriceHistory.transactions,
        ).where(PriceHistory.neighbourhood_id.in_(hood_ids))
    ).all()
    weight: dict[int, int] = {}
    for hid, _, _, n in rows:
        weight[hid] = weight.get(hid, 0) + n
    totals: dict[date, list[int]] = {}
    for hid, month, ppm2, _ in rows:
        acc = totals.setdefault(month, [0, 0])
        acc[0] += ppm2 * weight[hid]
        acc[1] += weight[hid]
    series = sorted((m, round(v / w)) for m, (v, w) in totals.items() if w)
    return series[-months:]


def _hood_rows(session: Session, hoods: list[Neighbourhood], currency: str) -> list[dict[str, Any]]:
    """One row per neighbourhood (price per m² of its active listings, 12-month change, best
    school), cheapest per m² first."""
    minor = MINOR_PER_UNIT[currency]
    ppm2s: dict[int, list[int]] = {h.id: [] for h in hoods}
    for hid, price, area in session.execute(
        select(Listing.neighbourhood_id, Listing.price, Listing.area_m2).where(
            Listing.neighbourhood_id.in_(list(ppm2s)), Listing.status == "active"
        )
    ):
        ppm2s[hid].append(round(price / minor / area))
    best = dict(
        session.execute(
            select(School.neighbourhood_id, func.max(School.rating))
            .where(School.neighbourhood_id.in_(list(ppm2s)))
            .group_by(School.neighbourhood_id)
        ).all()
    )
    rows: list[dict[str, Any]] = []
    for h in hoods:
        series = _history(session, [h.id], 13)
        values = ppm2s[h.id]
        rows.append(
            {
                "neighbourhood": h.name,
                "listings": len(values),
                "avg_per_m2": round(statistics.fmean(values)) if values else None,
                "median_per_m2": round(statistics.median(values)) if values else None,
                "change_12m_pct": _change_pct(series[0][1], series[-1][1]) if series else None,
                "best_school": best.get(h.id),
            }
        )
    rows.sort(key=lambda r: (r["avg_per_m2"] is None, r["avg_per_m2"] or 0))
    return rows


def _extremes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The neighbourhoods at each end, named outright: a small model reads the first row of a
    table, not its extremes, so "which district fell most" needs the answer written out."""
    out: dict[str, Any] = {}
    priced = [r for r in rows if r["avg_per_m2"]]
    if len(priced) > 1:
        out["cheapest_per_m2"] = priced[0]["neighbourhood"]
        out["priciest_per_m2"] = priced[-1]["neighbourhood"]
    moved = sorted((r for r in rows if r["change_12m_pct"] is not None), key=lambda r: r["change_12m_pct"])
    if len(moved) > 1:
        for key, r in (("fell_most_12m", moved[0]), ("rose_most_12m", moved[-1])):
            out[key] = {"neighbourhood": r["neighbourhood"], "change_12m_pct": r["change_12m_pct"]}
    return out


def _city_hoods(session: Session, city_id: int) -> list[Neighbourhood]:
    return list(
        session.scalars(
            select(Neighbourhood).where(Neighbourhood.city_id == city_id).order_by(Neighbourhood.id)
        )
    )


@tool(domain="realestate")
def neighbourhood_stats(ctx: ToolContext, city: str, neighbourhood: str | None = None) -> dict[str, Any]:
    """Compare a city's neighbourhoods: each one's price per m², listings, 12-month change, best school.

    The tool for "which district is cheapest / rose or fell most": one row per neighbourhood.

    Args:
        city: City name.
        neighbourhood: One district; all if omitted.
    """
    session = _session(ctx)
    c, neighbourhood = _place(session, city, neighbourhood)
    hoods = _city_hoods(session, c.id) if neighbourhood is None else [_hood(session, c, neighbourhood)]
    rows = _hood_rows(session, hoods, c.currency)
    out: dict[str, Any] = {"city": c.name, "unit": f"{c.currency}/m2", **_extremes(rows)}
    out["neighbourhoods"] = rows
    if neighbourhood is not None:
        schools = session.scalars(
            select(School)
            .where(School.neighbourhood_id == hoods[0].id)
            .order_by(School.rating.desc(), School.name)
        )
        out["schools"] = [f"{s.name} ({s.level}, {s.rating}/10)" for s in schools]
    else:
        out["city_avg_per_m2"] = _city_avg(session, c)  # the one analyze_listings compares with
    return out


@tool(domain="realestate")
def price_trend(
    ctx: ToolContext, city: str, neighbourhood: str | None = None, months: int = 12
) -> dict[str, Any]:
    """Monthly average home sale price per m² of a whole city (or one named district), and its % change.

    One area's trend; to compare a city's districts, use neighbourhood_stats.

    Args:
        city: City name.
        neighbourhood: One district; whole city if omitted.
        months: Months back, 2-24.
    """
    session = _session(ctx)
    c, neighbourhood = _place(session, city, neighbourhood)
    hoods = _city_hoods(session, c.id) if neighbourhood is None else [_hood(session, c, neighbourhood)]
    where = c.name if neighbourhood is None else f"{hoods[0].name}, {c.name}"
    months = min(max(months, 2), 24)
    series = _history(session, [h.id for h in hoods], months)
    minor = MINOR_PER_UNIT[c.currency]
    out: dict[str, Any] = {
        "area": where,
        "unit": f"{c.currency}/m2",
        "series": {m.strftime("%Y-%m"): v // minor for m, v in series},
        "change_pct": _change_pct(series[0][1], series[-1][1]),
    }
    if neighbourhood is None:  # "which part of the city fell most" is often asked of the trend
        out["districts"] = _extremes(_hood_rows(session, hoods, c.currency))
    return out
