"""Real-estate tools: search, inspect, compare, analyse and book viewings of homes.

The tools do the filtering, ranking and arithmetic, and answer with short JSON a
small model can read. Prices in arguments are whole units of the city's currency
(yuan, SGD); outputs give whole units plus a short text such as ``"5.80M CNY"``.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.realestate import analysis
from errand.services.realestate.models import (
    City,
    Listing,
    Neighbourhood,
    PriceHistory,
    School,
    Viewing,
)
from errand.tools import FromResults, FromUser, ToolContext, tool

MINOR_PER_UNIT = {"CNY": 100, "SGD": 100}
"""Minor units in one whole unit of each currency."""
MAX_LIMIT = 20
"""Most results any tool returns at once."""

SortBy = Literal["price", "price_per_m2", "area", "newest", "school", "metro"]


# ---- small helpers ---------------------------------------------------------------------


def _today() -> date:
    """Today's date (a function so tests can move the clock)."""
    return date.today()


def _units(minor: int, currency: str) -> int:
    """Whole currency units from minor units."""
    return minor // MINOR_PER_UNIT[currency]


def _money_text(units: int, currency: str) -> str:
    """Short money text: ``5.80M CNY``, ``850K SGD``."""
    if units >= 1_000_000:
        return f"{units / 1_000_000:.2f}M {currency}"
    if units >= 10_000:
        return f"{units / 1000:.0f}K {currency}"
    return f"{units:,} {currency}"


def _session(ctx: ToolContext) -> Session:
    if ctx.session is None:
        raise ToolError("The real-estate service has no database session; this is a setup error.")
    session: Session = ctx.session
    return session


def _norm(name: str) -> str:
    """Lower-case, no spaces or apostrophes, no 'district'/市/区 suffix."""
    s = re.sub(r"[\s'’\-]", "", name.strip().lower())
    for suffix in ("district", "city", "市", "区"):
        s = s.removesuffix(suffix)
    return s


def _city(session: Session, name: str) -> City:
    """The city called ``name`` in English or Chinese, any case."""
    cities = session.scalars(select(City).order_by(City.id)).all()
    key = _norm(name)
    for c in cities:
        if key in (_norm(c.name), _norm(c.name_zh), c.code.lower()):
            return c
    hoods = session.scalars(select(Neighbourhood).order_by(Neighbourhood.id)).all()
    hood = next((h for h in hoods if key and key in (_norm(h.name), _norm(h.name_zh))), None)
    if hood is not None:  # a district given as the city ("Pudong"): say where it is
        city = next(c for c in cities if c.id == hood.city_id)
        raise ToolError(
            f"{name!r} is a neighbourhood of {city.name}, not a city: "
            f"use city={city.name!r} and neighbourhood={hood.name!r}."
        )
    known = ", ".join(f"{c.name} ({c.name_zh})" for c in cities)
    raise ToolError(f"Unknown city {name!r}. Known cities: {known}.")


def _hood(session: Session, city: City, name: str) -> Neighbourhood:
    """The neighbourhood of ``city`` called ``name`` (English or Chinese; a unique prefix will do)."""
    hoods = session.scalars(
        select(Neighbourhood).where(Neighbourhood.city_id == city.id).order_by(Neighbourhood.id)
    ).all()
    key = _norm(name)
    exact = [h for h in hoods if key in (_norm(h.name), _norm(h.name_zh))]
    if exact:
        return exact[0]
    prefix = [h for h in hoods if key and (_norm(h.name).startswith(key) or h.name_zh.startswith(key))]
    if len(prefix) == 1:
        return prefix[0]
    known = ", ".join(h.name for h in hoods)
    raise ToolError(f"Unknown neighbourhood {name!r} in {city.name}. Known: {known}.")


def _listing_id(raw: str) -> str:
    """Canonical id (``HZ-00042``) from forms like ``hz-42`` or ``HZ00042``."""
    m = re.fullmatch(r"\s*([A-Za-z]{2})\s*-?\s*(\d{1,5})\s*", raw)
    if not m:
        raise ToolError(f"Bad listing id {raw!r}: ids look like HZ-00042 (city code, dash, number).")
    return f"{m.group(1).upper()}-{int(m.group(2)):05d}"


def _listing(session: Session, raw: str) -> Listing:
    lid = _listing_id(raw)
    found = session.get(Listing, lid)
    if found is None:
        raise ToolError(f"No listing {lid}. Use search_listings to find listing ids.")
    return found


def _area_avgs(session: Session, city_id: int) -> dict[int, int]:
    """Average asking price per m² (whole units) of active homes, per neighbourhood."""
    ppm2 = Listing.price / Listing.area_m2
    rows = session.execute(
        select(Listing.neighbourhood_id, func.avg(ppm2), Listing.currency)
        .where(Listing.city_id == city_id, Listing.status == "active")
        .group_by(Listing.neighbourhood_id, Listing.currency)
    ).all()
    return {hid: round(float(avg) / MINOR_PER_UNIT[cur]) for hid, avg, cur in rows}


def _city_avg(session: Session, city: City) -> int:
    avg = session.scalar(
        select(func.avg(Listing.price / Listing.area_m2)).where(
            Listing.city_id == city.id, Listing.status == "active"
        )
    )
    return round(float(avg or 0) / MINOR_PER_UNIT[city.currency])


# ---- filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Filters:
    """Search constraints; money in minor units. None means 'any'."""

    bedrooms: int | None = None
    min_bedrooms: int | None = None
    max_price: int | None = None
    min_price: int | None = None
    min_area: float | None = None
    max_area: float | None = None
    neighbourhood_id: int | None = None
    min_school_rating: int | None = None
    max_school_distance_m: int | None = None
    max_metro_distance_m: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions for every constraint that is set."""
        conds: list[ColumnElement[bool]] = []
        if self.bedrooms is not None:
            conds.append(Listing.bedrooms == self.bedrooms)
        if self.min_bedrooms is not None:
            conds.append(Listing.bedrooms >= self.min_bedrooms)
        if self.max_price is not None:
            conds.append(Listing.price <= self.max_price)
        if self.min_price is not None:
            conds.append(Listing.price >= self.min_price)
        if self.min_area is not None:
            conds.append(Listing.area_m2 >= self.min_area)
        if self.max_area is not None:
            conds.append(Listing.area_m2 <= self.max_area)
        if self.neighbourhood_id is not None:
            conds.append(Listing.neighbourhood_id == self.neighbourhood_id)
        if self.min_school_rating is not None:
            conds.append(School.rating >= self.min_school_rating)
        if self.max_school_distance_m is not None:
            conds.append(Listing.school_distance_m <= self.max_school_distance_m)
        if self.max_metro_distance_m is not None:
            conds.append(Listing.metro_distance_m <= self.max_metro_distance_m)
        return conds

    def active(self) -> list[str]:
        """Names of the constraints that are set."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


_ARG_NAME = {"neighbourhood_id": "neighbourhood"}


def _base_query(city: City, f: _Filters) -> Select[Listing, School, Neighbourhood]:
    return (
        select(Listing, School, Neighbourhood)
        .join(School, Listing.school_id == School.id)
        .join(Neighbourhood, Listing.neighbourhood_id == Neighbourhood.id)
        .where(Listing.city_id == city.id, Listing.status == "active", *f.conditions())
    )


def _count(session: Session, city: City, f: _Filters) -> int:
    q = _base_query(city, f).with_only_columns(func.count(Listing.id))
    return int(session.scalar(q) or 0)


def _make_filters(
    session: Session,
    city: City,
    *,
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
) -> _Filters:
    """Check the model's arguments and turn them into filters."""
    for arg, value in (("max_price", max_price), ("min_price", min_price)):
        if value is not None and value <= 0:
            raise ToolError(f"{arg} must be a positive whole amount of {city.currency}.")
    if max_price is not None and max_price < 1000:
        raise ToolError(
            f"max_price={max_price} looks like millions: prices are whole {city.currency}, "
            f"so 6 million is 6000000."
        )
    if min_price is not None and max_price is not None and min_price >= max_price:
        min_price = None  # "under 2M" written as min=max=2M: a range of one price is no range
    if min_school_rating is not None and not 1 <= min_school_rating <= 10:
        raise ToolError("min_school_rating is on a 1-10 scale.")
    minor = MINOR_PER_UNIT[city.currency]
    return _Filters(
        bedrooms=bedrooms,
        min_bedrooms=min_bedrooms,
        max_price=None if max_price is None else max_price * minor,
        min_price=None if min_price is None else min_price * minor,
        min_area=min_area,
        max_area=max_area,
        neighbourhood_id=None if neighbourhood is None else _hood(session, city, neighbourhood).id,
        min_school_rating=min_school_rating,
        max_school_distance_m=max_school_distance_m,
        max_metro_distance_m=max_metro_distance_m,
    )


def _relax(session: Session, city: City, f: _Filters) -> dict[str, Any]:
    """When nothing matches: how many would match with each constraint dropped."""
    options: list[tuple[int, str]] = []
    for name in f.active():
        dropped = replace(f, **{name: None})
        if name == "min_school_rating":  # the distance only means something with the rating
            dropped = replace(dropped, max_school_distance_m=None)
        n = _count(session, city, dropped)
        if n:
            options.append((n, name))
    options.sort(key=lambda o: (-o[0], o[1]))
    hints = [f"dropping {_ARG_NAME.get(name, name)} gives {n}" for n, name in options[:3]]
    if f.max_price is not None:
        q = _base_query(city, replace(f, max_price=None)).with_only_columns(func.min(Listing.price))
        cheapest = session.scalar(q)
        if cheapest is not None:
            hints.append(
                f"cheapest meeting the rest costs {_money_text(_units(cheapest, city.currency), city.currency)}"
            )
    hint = "; ".join(hints) if hints else "no constraint alone explains it; widen several"
    return {"matches": 0, "message": f"No active listing meets every constraint: {hint}."}


def _summary(home: Listing, s: School, h: Neighbourhood) -> dict[str, Any]:
    """The compact row every list result uses."""
    price = _units(home.price, home.currency)
    return {
        "id": home.id,
        "neighbourhood": h.name,
        "price": price,
        "price_text": _money_text(price, home.currency),
        "area_m2": home.area_m2,
        "bedrooms": home.bedrooms,
        "price_per_m2": round(price / home.area_m2),
        "school_rating": s.rating,
        "school_distance_m": home.school_distance_m,
        "metro_distance_m": home.metro_distance_m,
        "year_built": home.year_built,
    }


def _candidate(home: Listing, s: School, h: Neighbourhood, avgs: dict[int, int]) -> analysis.Candidate:
    return analysis.Candidate(
        id=home.id,
        neighbourhood=h.name,
        price=_units(home.price, home.currency),
        area_m2=home.area_m2,
        school_rating=s.rating,
        school_distance_m=home.school_distance_m,
        metro_distance_m=home.metro_distance_m,
        year_built=home.year_built,
        area_avg_per_m2=avgs[h.id],
    )


_ORDER: dict[str, tuple[ColumnElement[Any], ...]] = {
    "price": (Listing.price.asc(),),
    "price_per_m2": ((Listing.price / Listing.area_m2).asc(),),
    "area": (Listing.area_m2.desc(),),
    "newest": (Listing.year_built.desc(),),
    "school": (School.rating.desc(), Listing.school_distance_m.asc()),
    "metro": (Listing.metro_distance_m.asc(),),
}


# ---- tools ------------------------------------------------------------------------------


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
    """Search homes for sale in a city; returns the match count and the top results, cheapest
    first unless sort_by says otherwise: for counts, the cheapest, or a plain list.

    Args:
        city: City name, e.g. Hangzhou.
        bedrooms: Exact bedrooms.
        min_bedrooms: At least this many bedrooms.
        max_price: Max price in whole yuan/SGD (600万 = 6000000).
        min_price: Lowest price, only if the user gave one.
        min_area: Min floor area m², only if asked.
        max_area: Max floor area, m².
        neighbourhood: District, only if the user named one.
        min_school_rating: Lowest school rating 1-10, only if asked.
        max_school_distance_m: Max metres to that school.
        max_metro_distance_m: Max metres to metro, only if asked.
        sort_by: Order of results.
        limit: Results to return.
    """
    session = _session(ctx)
    c = _city(session, city)
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
def get_listing(ctx: ToolContext, listing_id: str) -> dict[str, Any]:
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
def compare_listings(ctx: ToolContext, listing_ids: list[str]) -> dict[str, Any]:
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


@tool(domain="realestate")
def neighbourhood_stats(ctx: ToolContext, city: str, neighbourhood: str | None = None) -> dict[str, Any]:
    """Price per m², listing count, 12-month change and best school, per neighbourhood.

    Args:
        city: City name.
        neighbourhood: One district; all if omitted.
    """
    session = _session(ctx)
    c = _city(session, city)
    if neighbourhood is None:
        hoods = list(
            session.scalars(
                select(Neighbourhood).where(Neighbourhood.city_id == c.id).order_by(Neighbourhood.id)
            )
        )
    else:
        hoods = [_hood(session, c, neighbourhood)]
    minor = MINOR_PER_UNIT[c.currency]
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
    priced = [r for r in rows if r["avg_per_m2"]]
    out: dict[str, Any] = {"city": c.name, "unit": f"{c.currency}/m2"}
    if len(priced) > 1:  # named outright: small models read the first row, not the extremes
        out["cheapest_per_m2"] = priced[0]["neighbourhood"]
        out["priciest_per_m2"] = priced[-1]["neighbourhood"]
    out["neighbourhoods"] = rows
    if neighbourhood is not None:
        schools = session.scalars(
            select(School)
            .where(School.neighbourhood_id == hoods[0].id)
            .order_by(School.rating.desc(), School.name)
        )
        out["schools"] = [f"{s.name} ({s.level}, {s.rating}/10)" for s in schools]
    else:
        every = [v for vs in ppm2s.values() for v in vs]
        out["city_avg_per_m2"] = round(statistics.fmean(every)) if every else None
    return out


@tool(domain="realestate")
def price_trend(
    ctx: ToolContext, city: str, neighbourhood: str | None = None, months: int = 12
) -> dict[str, Any]:
    """Monthly average home sale price per m² in a city, and its % change.

    Args:
        city: City name.
        neighbourhood: One district; whole city if omitted.
        months: Months back, 2-24.
    """
    session = _session(ctx)
    c = _city(session, city)
    if neighbourhood is None:
        hood_ids = list(session.scalars(select(Neighbourhood.id).where(Neighbourhood.city_id == c.id)))
        where = c.name
    else:
        h = _hood(session, c, neighbourhood)
        hood_ids, where = [h.id], f"{h.name}, {c.name}"
    months = min(max(months, 2), 24)
    series = _history(session, hood_ids, months)
    minor = MINOR_PER_UNIT[c.currency]
    return {
        "area": where,
        "unit": f"{c.currency}/m2",
        "series": {m.strftime("%Y-%m"): v // minor for m, v in series},
        "change_pct": _change_pct(series[0][1], series[-1][1]),
    }


@tool(domain="realestate")
def mortgage_estimate(
    ctx: ToolContext,
    listing_id: str | None = None,
    price: int | None = None,
    down_payment_pct: float = 30,
    annual_rate_pct: float = 3.5,
    years: int = 30,
) -> dict[str, Any]:
    """Monthly repayment and total interest of a fixed-rate mortgage.

    Args:
        listing_id: The listing, e.g. HZ-00042 (its price is used).
        price: Or a home price in whole yuan/SGD.
        down_payment_pct: Down payment, % of price.
        annual_rate_pct: Yearly interest rate, %.
        years: Loan term in years.
    """
    currency: str | None = None
    if listing_id is not None:
        home = _listing(_session(ctx), listing_id)
        currency = home.currency
        if price is None:
            price = _units(home.price, home.currency)
    if price is None:
        raise ToolError("Give price (whole yuan/SGD) or listing_id.")
    if price <= 0:
        raise ToolError("price must be positive, in whole units (6 million is 6000000).")
    if not 0 <= down_payment_pct < 100:
        raise ToolError("down_payment_pct must be at least 0 and under 100.")
    if not 0 <= annual_rate_pct <= 30:
        raise ToolError("annual_rate_pct must be between 0 and 30.")
    if not 1 <= years <= 40:
        raise ToolError("years must be between 1 and 40.")
    m = annuity(price, down_payment_pct, annual_rate_pct, years)
    unit = f" {currency}" if currency else ""
    out: dict[str, Any] = {"currency": currency} if currency else {}
    return out | m | {"monthly_text": f"{m['monthly_payment']:,}{unit}/month for {years} years"}


def annuity(price: int, down_payment_pct: float, annual_rate_pct: float, years: int) -> dict[str, int]:
    """Down payment, loan, monthly payment, total interest (whole units) of an annuity loan.

    Computed in Decimal on minor units (cents), rounded half-up to whole units at the end:
    monthly = loan * r / (1 - (1 + r) ** -n), with r the monthly rate and n the months.
    """
    cents = Decimal(price) * 100
    down = (cents * Decimal(str(down_payment_pct)) / 100).quantize(Decimal(1), ROUND_HALF_UP)
    loan = cents - down
    n = years * 12
    r = Decimal(str(annual_rate_pct)) / 1200
    monthly = loan / n if r == 0 else loan * r / (1 - (1 + r) ** -n)
    monthly = monthly.quantize(Decimal(1), ROUND_HALF_UP)

    def whole(x: Decimal) -> int:
        return int((x / 100).quantize(Decimal(1), ROUND_HALF_UP))

    return {
        "price": price,
        "down_payment": whole(down),
        "loan": whole(loan),
        "monthly_payment": whole(monthly),
        "total_interest": whole(monthly * n - loan),
    }


@tool(domain="realestate")
def analyze_listings(
    ctx: ToolContext,
    city: str,
    bedrooms: int | None = None,
    max_price: int | None = None,
    min_school_rating: int | None = None,
    max_school_distance_m: int = 1000,
    min_price: int | None = None,
    min_area: float | None = None,
    neighbourhood: str | None = None,
    max_metro_distance_m: int | None = None,
    limit: int = 5,
) -> dict[str, Any]:
    """Find matching homes, rank them by a value score, and chart them; use to recommend the
    best value (for the cheapest, use search_listings).

    Args:
        city: City name, e.g. Hangzhou.
        bedrooms: Exact bedrooms.
        max_price: Max price in whole yuan/SGD (600万 = 6000000).
        min_school_rating: Lowest school rating 1-10, only if asked.
        max_school_distance_m: Max metres to that school.
        min_price: Lowest price, only if the user gave one.
        min_area: Min floor area m², only if asked.
        neighbourhood: District, only if the user named one.
        max_metro_distance_m: Max metres to metro, only if asked.
        limit: Top homes to return.
    """
    session = _session(ctx)
    c = _city(session, city)
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
    return head | {
        "matches": len(rows),
        "city_avg_per_m2": city_avg,
        "score_formula": analysis.SCORE_FORMULA,
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
        "cheapest": _cheapest(ranked, c.currency),
        "chart": str(chart),
    }


def _cheapest(ranked: list[tuple[analysis.Candidate, float]], currency: str) -> dict[str, Any]:
    """The lowest-priced match, named outright: "…then the cheapest" is a common follow-up."""
    cand = min((c for c, _ in ranked), key=lambda c: (c.price, c.id))
    return {"id": cand.id, "price": cand.price, "price_text": _money_text(cand.price, currency)}


def _viewing_text(args: dict[str, Any]) -> str:
    return (
        f"Request a viewing of listing {args.get('listing_id')} on {args.get('date')} "
        f"under the name {args.get('name')!r}; the seller's agent will get that name"
    )


def _viewing_result(v: Viewing, replayed: bool) -> dict[str, Any]:
    return {
        "viewing_id": f"VW-{v.id:05d}",
        "listing_id": v.listing_id,
        "date": v.day.isoformat(),
        "name": v.name,
        "status": "requested",
        "replayed": replayed,
    }


@tool(domain="realestate", risk="write", confirm_text=_viewing_text)
def request_viewing(
    ctx: ToolContext,
    listing_id: Annotated[str, FromResults("id", "listing_id")],
    date: str,
    name: Annotated[str, FromUser("the name to book the viewing under")],
) -> dict[str, Any]:
    """Ask to view (看房) a home listing on a day (needs the user's confirmation).

    Args:
        listing_id: Id like HZ-00042.
        date: Day, YYYY-MM-DD.
        name: Name to book under.
    """
    session = _session(ctx)
    key = ctx.idempotency_key or None
    if key is not None:
        done = session.scalar(select(Viewing).where(Viewing.idempotency_key == key))
        if done is not None:
            return _check_replay(done, listing_id, date, name)
    home = _listing(session, listing_id)
    try:
        day = _parse_day(date)
    except ValueError:
        raise ToolError(f"Bad date {date!r}: use YYYY-MM-DD.") from None
    today = _today()
    if day < today:
        raise ToolError(f"{day.isoformat()} is in the past; today is {today.isoformat()}.")
    if home.status != "active":
        raise ToolError(f"{home.id} is {home.status.replace('_', ' ')}; only active listings can be viewed.")
    name = name.strip()
    if not name:
        raise ToolError("name must not be empty.")
    v = Viewing(listing_id=home.id, day=day, name=name, user=ctx.user, run_id=ctx.run_id, idempotency_key=key)
    try:
        # A savepoint, so a lost race rolls back only this insert, not the caller's transaction.
        with session.begin_nested():
            session.add(v)
    except IntegrityError:
        # The same call raced us and committed first: answer with its booking.
        done = session.scalar(select(Viewing).where(Viewing.idempotency_key == key))
        if done is None:
            raise
        return _check_replay(done, listing_id, date, name)
    session.flush()  # the caller's transaction commits it (one transaction per tool call)
    return _viewing_result(v, replayed=False)


def _parse_day(text: str) -> date:
    return date.fromisoformat(text.strip())


def _check_replay(done: Viewing, listing_id: str, date: str, name: str) -> dict[str, Any]:
    """The stored result of a repeated call; refuse if the repeat asks for something else."""
    try:
        same_day = done.day == _parse_day(date)
    except ValueError:
        same_day = False
    same = done.listing_id == _listing_id(listing_id) and same_day and done.name == name.strip()
    if not same:
        raise ToolError(
            "This call's idempotency key was already used for a different viewing "
            f"({done.listing_id} on {done.day.isoformat()}); not booking again."
        )
    return _viewing_result(done, replayed=True)


TOOLS = (
    search_listings,
    get_listing,
    compare_listings,
    neighbourhood_stats,
    price_trend,
    mortgage_estimate,
    analyze_listings,
    request_viewing,
)
"""The domain's tools in their fixed order."""
