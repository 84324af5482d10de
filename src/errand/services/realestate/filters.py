"""Search constraints: the model's arguments checked and turned into SQL, and what to relax
when nothing matches."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.realestate.common import MINOR_PER_UNIT, _hood, _money_text, _units
from errand.services.realestate.models import City, Listing, Neighbourhood, School


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
