"""What the real-estate tools share: the session, cities, neighbourhoods, listing ids, money
text, area averages and the compact row every list result uses.

Prices in arguments are whole units of the city's currency (yuan, SGD); outputs give whole
units plus a short text such as ``"5.80M CNY"``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.realestate import analysis
from errand.services.realestate.models import City, Listing, Neighbourhood, School
from errand.tools import ToolContext

MINOR_PER_UNIT = {"CNY": 100, "SGD": 100}
"""Minor units in one whole unit of each currency."""
MAX_LIMIT = 20
"""Most results any tool returns at once."""


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


def _place(session: Session, city: str, neighbourhood: str | None) -> tuple[City, str | None]:
    """The city called ``city`` (English or Chinese, any case) and the neighbourhood to use.

    A district given as the city ("Pudong", "浦东") is read as that district of its city, as a
    person would read it; only a different neighbourhood given beside it is an error."""
    cities = session.scalars(select(City).order_by(City.id)).all()
    key = _norm(city)
    for c in cities:
        if key in (_norm(c.name), _norm(c.name_zh), c.code.lower()):
            return c, neighbourhood
    hoods = session.scalars(select(Neighbourhood).order_by(Neighbourhood.id)).all()
    hood = next((h for h in hoods if key and key in (_norm(h.name), _norm(h.name_zh))), None)
    if hood is not None:
        found = next(c for c in cities if c.id == hood.city_id)
        if neighbourhood is None or _norm(neighbourhood) in (key, _norm(found.name), _norm(found.name_zh)):
            return found, hood.name
        raise ToolError(
            f"{city!r} is a neighbourhood of {found.name}, not a city, and neighbourhood={neighbourhood!r} "
            f"names another: use city={found.name!r} and one neighbourhood."
        )
    known = ", ".join(f"{c.name} ({c.name_zh})" for c in cities)
    raise ToolError(f"Unknown city {city!r}. Known cities: {known}.")


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
