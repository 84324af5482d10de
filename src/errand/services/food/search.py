"""Finding food: restaurants that deliver in a city, ranked, and one restaurant's menu."""

from __future__ import annotations

import re
from typing import Annotated, Any

from sqlalchemy import ColumnElement, func, or_, select

from errand.errors import ToolError
from errand.services.clock import local_time
from errand.services.food.common import (
    _city,
    _hours,
    _is_open,
    _minute_of,
    _money,
    _open_sql,
    _parse_clock,
    _restaurant,
    _session,
    said_open_at,
)
from errand.services.food.diet import (
    Allergens,
    _allergens,
    _cuisines,
    _item_allergens,
    _safe,
    _tags,
    said_cuisine,
    said_spice,
    said_vegetarian,
)
from errand.services.food.models import MenuItem, Restaurant
from errand.tools import FromResults, FromUser, ToolContext, tool
from errand.tools.numbers import EN_COUNTS, ZH_COUNTS

TOP = 5
"""Restaurants a search returns."""
MAX_RULED_OUT = 6
"""Dishes a menu names as ruled out by the user's limits (the rest are counted)."""


@tool(domain="food")
def search_restaurants(
    ctx: ToolContext,
    city: str,
    cuisine: Annotated[str | None, FromUser("the cuisine", said_as=said_cuisine)] = None,
    dish: str | None = None,
    exclude_allergens: Allergens = None,
    vegetarian: Annotated[bool | None, FromUser("vegetarian", said_as=said_vegetarian)] = None,
    max_delivery_min: int | None = None,
    open_at: Annotated[str | None, FromUser("the time it must be open", said_as=said_open_at)] = None,
    name: Annotated[str | None, FromUser("the restaurant's name")] = None,
) -> dict[str, Any]:
    """Find restaurants that deliver in a city; returns the best 5 and why.

    Args:
        city: City name, e.g. Shanghai.
        cuisine: Kind of food (sichuan, cantonese, japanese, ...), only if the user named one.
        dish: A dish the user named (饺子 is dumplings), only then.
        exclude_allergens: Allergens the user said they must avoid (peanut, shellfish, dairy, gluten, egg, soy); else none.
        vegetarian: True only if the user wants vegetarian dishes.
        max_delivery_min: Longest delivery time in minutes, only if asked.
        open_at: Time it must be open, HH:MM, only if asked.
        name: The restaurant's name (or part of it), only if the user named one.
    """
    session = _session(ctx)
    c = _city(session, city)
    avoid = _allergens(exclude_allergens)
    conds: list[ColumnElement[bool]] = [Restaurant.city == c]
    if name and name.strip():  # "from Golden Beijing House": every restaurant of that name
        conds.append(func.lower(Restaurant.name).contains(name.strip().lower()))
    if cuisine:
        kinds = _cuisines(cuisine)
        if not kinds:
            here = session.scalars(select(Restaurant.cuisine).where(Restaurant.city == c).distinct()).all()
            raise ToolError(f"Unknown cuisine {cuisine!r}. Cuisines in {c}: {', '.join(sorted(here))}.")
        conds.append(Restaurant.cuisine.in_(kinds))
    if max_delivery_min is not None:
        if max_delivery_min <= 0:
            raise ToolError("max_delivery_min must be a positive number of minutes.")
        conds.append(Restaurant.delivery_min <= max_delivery_min)
    if open_at:
        try:
            conds.append(_open_sql(_parse_clock(open_at)))
        except ValueError:
            raise ToolError(f"Bad time {open_at!r}: use HH:MM, e.g. 19:30.") from None
    item_conds: list[ColumnElement[bool]] = [
        *_safe(avoid),
        or_(MenuItem.stock_left.is_(None), MenuItem.stock_left > 0),
    ]
    if vegetarian:
        item_conds.append(MenuItem.vegetarian.is_(True))
    if dish:
        item_conds.append(func.lower(MenuItem.name).contains(dish.strip().lower()))
    need = 1 if dish else 3  # without a dish, enough suitable dishes for a meal
    fits = (
        select(MenuItem.restaurant_id, func.count(MenuItem.id).label("n"))
        .where(*item_conds)
        .group_by(MenuItem.restaurant_id)
        .having(func.count(MenuItem.id) >= need)
        .subquery()
    )
    base = select(Restaurant, fits.c.n).join(fits, fits.c.restaurant_id == Restaurant.id).where(*conds)
    total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    if total == 0:
        return {
            "city": c,
            "matches": 0,
            "message": _no_match(name, cuisine, dish, avoid, vegetarian, max_delivery_min),
        }
    rows = session.execute(
        base.order_by(Restaurant.rating.desc(), Restaurant.delivery_min, Restaurant.id).limit(TOP)
    ).all()
    now_min = _minute_of(local_time(ctx.now()))
    results = []
    for r, n in rows:
        picks = session.scalars(
            select(MenuItem)
            .where(MenuItem.restaurant_id == r.id, *item_conds)
            .order_by((MenuItem.category == "main").desc(), MenuItem.price.desc(), MenuItem.id)
            .limit(3)
        ).all()
        why = [f"rated {r.rating}", f"{r.delivery_min} min delivery"]
        if avoid or vegetarian:
            label = " ".join(["vegetarian"] * bool(vegetarian) + [f"{'/'.join(avoid)}-free"] * bool(avoid))
            why.append(f"{n} {label} dishes")
        if dish:
            why.append(f"serves {picks[0].name}")
        results.append(
            {
                "id": r.id,
                "name": r.name,
                "cuisine": r.cuisine,
                "district": r.district,
                "rating": r.rating,
                "delivery_min": r.delivery_min,
                "delivery_fee": _money(r.delivery_fee, r.currency),
                "min_order": _money(r.min_order, r.currency),
                "hours": _hours(r),
                "open_now": _is_open(r, now_min),
                "dishes": [f"{i.name} {_money(i.price, i.currency)}" for i in picks],
                "why": ", ".join(why),
            }
        )
    out: dict[str, Any] = {"city": c, "matches": total, "results": results}
    if name and total > 1:  # a name several restaurants share is no choice of the best one
        out["note"] = (
            f"{total} restaurants are named like {name.strip()!r}: ask the user which one they mean."
        )
    elif results:  # the conclusion last: a small model answers with the last name it read
        out["best"] = {k: results[0][k] for k in ("id", "name", "rating", "why")}
    return out


def _no_match(
    name: str | None,
    cuisine: str | None,
    dish: str | None,
    avoid: list[str],
    vegetarian: bool | None,
    max_min: int | None,
) -> str:
    set_ = [
        param
        for param, on in (
            ("name", name),
            ("cuisine", cuisine),
            ("dish", dish),
            ("exclude_allergens", avoid),
            ("vegetarian", vegetarian),
            ("max_delivery_min", max_min),
        )
        if on
    ]
    hint = f"drop or widen one of: {', '.join(set_)}" if set_ else "try another city"
    return f"No restaurant meets every constraint; {hint}."


@tool(domain="food")
def get_menu(
    ctx: ToolContext,
    restaurant_id: Annotated[str, FromResults("id", "restaurant_id", shape=r"[A-Z]{2}-R\d{3}")],
    dishes: Annotated[list[str] | None, FromUser("the dishes")] = None,
    exclude_allergens: Allergens = None,
    max_spice: Annotated[int | None, FromUser("how spicy", said_as=said_spice)] = None,
) -> dict[str, Any]:
    """A restaurant's menu with item ids, prices, dietary tags, allergens and spice (0-3).

    Args:
        restaurant_id: Id like SH-R012.
        dishes: Only the dishes the user named, as they wrote them; else the whole menu.
        exclude_allergens: Allergens the user said they must avoid (peanut, shellfish, dairy, gluten, egg, soy); else none.
        max_spice: Highest spice level 0-3 (0 = not spicy).
    """
    session = _session(ctx)
    r = _restaurant(session, restaurant_id)
    avoid = _allergens(exclude_allergens)
    conds = _safe(avoid)
    if max_spice is not None:
        if not 0 <= max_spice <= 3:
            raise ToolError("max_spice is 0 (not spicy) to 3 (very hot).")
        conds.append(MenuItem.spice <= max_spice)
    everything = session.scalars(
        select(MenuItem).where(MenuItem.restaurant_id == r.id).order_by(MenuItem.id)
    ).all()
    items = session.scalars(
        select(MenuItem).where(MenuItem.restaurant_id == r.id, *conds).order_by(MenuItem.id)
    ).all()
    wanted = [d for d in dishes or [] if d.strip()]
    named = [i for i in everything if any(_names_dish(d, i.name) for d in wanted)]
    missing = [d for d in wanted if not any(_names_dish(d, i.name) for i in named)]
    # a dish asked for that the user's own limits rule out is news, not a reason to offer others;
    # without dishes named, the few the limits hide are named too (the one asked for may be there)
    hidden = [i for i in (named if wanted else everything) if i not in items]
    excluded = [_why_not(i, avoid, max_spice) for i in hidden[:MAX_RULED_OUT]]
    if named:  # the dishes asked for, so that an order copies them and not the whole menu
        items = [i for i in named if i in items]
    menu = []
    for i in items:
        row: dict[str, Any] = {"item_id": i.id, "name": i.name, "price": _money(i.price, i.currency)}
        if i.serves > 1:
            row["serves"] = i.serves
        if tags := _tags(i):
            row["tags"] = tags
        if allergens := _item_allergens(i):
            row["allergens"] = allergens
        if i.spice:
            row["spice"] = i.spice
        if i.stock_left is not None:
            row["left_today"] = i.stock_left
        asked = next((_count_in(d) for d in wanted if _names_dish(d, i.name)), None)
        if asked is not None:  # "2 steamed rice": the 2 was lost between menu and order
            row["quantity_asked"] = asked
        menu.append(row)
    return {
        "restaurant": r.name,
        "id": r.id,
        "hours": _hours(r),
        "open_now": _is_open(r, _minute_of(local_time(ctx.now()))),
        "delivery_min": r.delivery_min,
        "delivery_fee": _money(r.delivery_fee, r.currency),
        "min_order": _money(r.min_order, r.currency),
        # dishes named and none offered is a search that found nothing (`"matches": 0`), not a menu
        **({"matches": len(menu) if named else 0} if wanted else {}),
        "items": menu,
        "hidden_by_filters": len(everything) - len(menu),
        **({"not_on_menu": missing} if missing else {}),
        **({"ruled_out": excluded} if excluded else {}),
    }


def _why_not(item: MenuItem, avoid: list[str], max_spice: int | None) -> str:
    """Why a dish the user named is not offered: the allergens or the spice they ruled out."""
    has = [a for a in _item_allergens(item) if a in avoid]
    why = [f"contains {', '.join(has)}"] if has else []
    if max_spice is not None and item.spice > max_spice:
        why.append(f"spice {item.spice}, above {max_spice}")
    return f"{item.name}: {'; '.join(why)}"


_COUNTED = re.compile(r"[0-9一二两三四五六七八九十]+\s*[份个碗盘杯笼只串]")
"""A count in Chinese (两份, 一碗): not part of a dish's name."""
_NOT_DISH = {"and", "with", "of", "the", "a", "an", "portion", "order", "bowl", "plate", "serving"}


_EN_COUNT = EN_COUNTS
_COUNT = re.compile(
    r"^\s*(\d+|" + "|".join(_EN_COUNT) + r")\s*(?:x|×)?\s|(?:x|×)\s*(\d+)\s*$"
    r"|([0-9一二两三四五六七八九十]+)\s*[份个碗盘杯笼只串]"
)
_ZH_COUNT = ZH_COUNTS


def _count_in(wanted: str) -> int | None:
    """How many of a dish the user's words ask for ("2 steamed rice", "rice x2", 烧卖两份)."""
    m = _COUNT.search(wanted.lower())
    if m is None:
        return None
    raw = next(g for g in m.groups() if g)
    n = int(raw) if raw.isdigit() else _EN_COUNT.get(raw) or (_ZH_COUNT.get(raw) if len(raw) == 1 else None)
    return n if n and n > 0 else None


def _words(text: str) -> set[str]:
    """Latin words without a plural ending, for matching a dish as people write it."""
    return {
        w.removesuffix("es") if w.endswith("ches") else w.removesuffix("s")
        for w in re.findall(r"[a-z]+", text)
    }


def _names_dish(wanted: str, name: str) -> bool:
    """Whether the user's ``wanted`` ("2 dan dan noodles", "dumpling", 白切鸡一份) names the
    menu's dish ``name`` ("Dan dan noodles 担担面"): its Chinese as written, or every word."""
    w, n = wanted.lower(), name.lower()
    cjk = "".join(re.findall(r"[\u4e00-\u9fff]+", _COUNTED.sub("", w)))
    if cjk:
        return cjk in n
    words = _words(w) - _NOT_DISH - _EN_COUNT.keys()
    return bool(words) and words <= _words(n)
