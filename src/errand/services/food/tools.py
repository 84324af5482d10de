"""Food tools: find restaurants, read menus, order delivery, follow and cancel orders.

The tools filter, rank and add up; the model gets short JSON. Prices in outputs are
text such as ``"32.00 CNY"``; the database keeps minor units. Orders pay through the
wallet in the same transaction that records them, and a cancelled order is refunded
through it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from errand.errors import ToolError
from errand.services.food.models import MenuItem, Order, OrderLine, Restaurant
from errand.services.food.seed import ALLERGENS
from errand.services.wallet import ledger
from errand.tools import FromResults, FromUser, ToolContext, tool

LOCAL_UTC_OFFSET = timedelta(hours=8)
"""Every food city keeps UTC+8 (China Standard Time, Singapore)."""
TOP = 5
"""Restaurants a search returns."""
MAX_QUANTITY = 50
"""Most portions of one dish per order."""
PREP_START = timedelta(minutes=2)
"""The kitchen starts cooking this long after an order is placed."""
COOK = timedelta(minutes=20)
"""A dish is cooked in the last this-long before the rider leaves (scheduled orders wait first)."""
MAX_AHEAD = timedelta(days=2)
"""Furthest ahead a delivery can be scheduled."""

_ALLERGEN_WORDS = {
    "peanut": ("peanut", "peanuts", "nut", "nuts", "groundnut", "花生", "坚果"),
    "shellfish": ("shellfish", "shrimp", "prawn", "crab", "crayfish", "seafood", "虾", "蟹", "海鲜", "贝类"),
    "dairy": ("dairy", "milk", "lactose", "cheese", "cream", "奶", "牛奶", "乳制品", "乳糖"),
    "gluten": ("gluten", "wheat", "麸质", "小麦", "面筋"),
    "egg": ("egg", "eggs", "蛋", "鸡蛋"),
    "soy": ("soy", "soya", "soybean", "tofu", "大豆", "黄豆", "豆制品"),
}
_CUISINE_WORDS = {
    "sichuan": ("sichuan", "szechuan", "chuan", "川菜", "四川", "川"),
    "cantonese": ("cantonese", "dim sum", "dimsum", "guangdong", "粤菜", "广东", "早茶", "点心"),
    "hangzhou": ("hangzhou", "zhejiang", "jiangnan", "杭帮菜", "浙菜", "江南"),
    "northern": ("northern", "beijing", "peking", "dumplings", "京菜", "北京", "北方", "饺子"),
    "hunan": ("hunan", "xiang", "湘菜", "湖南"),
    "halal": ("halal", "muslim", "xinjiang", "清真", "新疆", "西北"),
    "japanese": ("japanese", "sushi", "ramen", "日料", "日本", "寿司", "拉面"),
    "italian": ("italian", "pizza", "pasta", "western", "意大利", "披萨", "西餐"),
    "thai": ("thai", "泰国", "泰餐"),
    "indian": ("indian", "curry", "印度", "咖喱"),
    "vegetarian": ("vegetarian", "vegan", "素食", "素菜"),
    "singaporean": ("singaporean", "hawker", "local", "malay", "新加坡", "马来"),
}
_CHINESE = ("sichuan", "cantonese", "hangzhou", "northern", "hunan", "halal", "vegetarian")


# ---- small helpers ----------------------------------------------------------------------


def _now() -> datetime:
    """Wall-clock time in the food cities (UTC+8), without a zone; tests move it."""
    return (datetime.now(UTC) + LOCAL_UTC_OFFSET).replace(tzinfo=None)


def _session(ctx: ToolContext) -> Session:
    if ctx.session is None:
        raise ToolError("The food service has no database session; this is a setup error.")
    session: Session = ctx.session
    return session


def _money(minor: int, currency: str) -> str:
    return ledger.money_text(minor, currency)


def _hhmm(minute: int) -> str:
    return f"{minute // 60 % 24:02d}:{minute % 60:02d}"


def _hours(r: Restaurant) -> str:
    return f"{_hhmm(r.open_min)}-{_hhmm(r.close_min)}"


def _is_open(r: Restaurant, minute: int) -> bool:
    """Whether ``r`` takes orders at ``minute`` after midnight (hours may run past midnight)."""
    return any(r.open_min <= m < r.close_min for m in (minute, minute + 1440))


def _open_sql(minute: int) -> ColumnElement[bool]:
    return or_(
        and_(Restaurant.open_min <= minute, Restaurant.close_min > minute),
        and_(Restaurant.open_min <= minute + 1440, Restaurant.close_min > minute + 1440),
    )


def _minute_of(t: datetime) -> int:
    return t.hour * 60 + t.minute


def _norm(text: str) -> str:
    return re.sub(r"[\s'’\-_]", "", text.strip().lower())


def _allergens(names: list[str] | None) -> list[str]:
    """Canonical allergen names from the user's words (``nuts`` → ``peanut``, ``虾`` → ``shellfish``)."""
    out: list[str] = []
    for raw in names or []:
        word = _norm(raw).removeprefix("no").removesuffix("free") if raw.isascii() else raw.strip()
        found = next((a for a, words in _ALLERGEN_WORDS.items() if word in words or word == a), None)
        if found is None:
            raise ToolError(f"Unknown allergen {raw!r}. Known allergens: {', '.join(ALLERGENS)}.")
        if found not in out:
            out.append(found)
    return out


def _safe(allergens: list[str]) -> list[ColumnElement[bool]]:
    """Conditions on `MenuItem` that keep out dishes with any of ``allergens``."""
    return [not_(MenuItem.allergens.contains(f",{a},")) for a in allergens]


def _item_allergens(item: MenuItem) -> list[str]:
    return [a for a in item.allergens.split(",") if a]


def _tags(item: MenuItem) -> list[str]:
    flags = (
        ("vegetarian", item.vegetarian),
        ("vegan", item.vegan),
        ("halal", item.halal),
        ("gluten-free", item.gluten_free),
    )
    return [name for name, on in flags if on]


def _cities(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(select(Restaurant.city, Restaurant.city_zh).distinct().order_by(Restaurant.city))
    return [(str(a), str(b)) for a, b in rows]


def _city(session: Session, name: str) -> str:
    """The English city name for ``name`` (English or Chinese, any case)."""
    key = _norm(name).removesuffix("city").removesuffix("市")
    cities = _cities(session)
    for en, zh in cities:
        if key in (_norm(en), zh, zh + "市"):
            return en
    known = ", ".join(f"{en} ({zh})" for en, zh in cities)
    raise ToolError(f"No restaurants in {name!r}. Cities with delivery: {known}.")


def _cuisines(name: str) -> list[str]:
    key = name.strip().lower()
    if key in ("chinese", "中餐", "中国菜", "中式"):
        return list(_CHINESE)
    for cuisine, words in _CUISINE_WORDS.items():
        if key == cuisine or key in words or _norm(key) in words:
            return [cuisine]
    return []


def _parse_clock(text: str) -> int:
    """Minutes after midnight from ``19:30``, ``1930``, ``7pm`` or ``7:30 pm``."""
    t = text.strip().lower().replace(" ", "")
    m = re.fullmatch(r"(\d{1,2})(?::?(\d{2}))?(am|pm)?", t)
    if not m:
        raise ValueError(text)
    h, mi = int(m.group(1)), int(m.group(2) or 0)
    if m.group(3) == "pm" and h < 12:
        h += 12
    if m.group(3) == "am" and h == 12:
        h = 0
    if not (0 <= h < 24 and 0 <= mi < 60):
        raise ValueError(text)
    return h * 60 + mi


def _parse_when(text: str, now: datetime) -> datetime:
    """A delivery time from ``2026-12-01 19:30`` (or ``T``) or a clock time today (``19:30``)."""
    t = text.strip()
    try:
        return datetime.fromisoformat(t.replace("T", " ")).replace(tzinfo=None, second=0, microsecond=0)
    except ValueError:
        pass
    minute = _parse_clock(t)
    return now.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)


def _restaurant_id(raw: str) -> str:
    m = re.fullmatch(r"\s*([A-Za-z]{2})\s*-?\s*[Rr]?\s*(\d{1,3})\s*", raw)
    if not m:
        raise ToolError(f"Bad restaurant id {raw!r}: ids look like SH-R012 (city code, -R, number).")
    return f"{m.group(1).upper()}-R{int(m.group(2)):03d}"


def _restaurant(session: Session, raw: str) -> Restaurant:
    rid = _restaurant_id(raw)
    found = session.get(Restaurant, rid)
    if found is None:
        raise ToolError(f"No restaurant {rid}. Use search_restaurants to find restaurant ids.")
    return found


def _order_ref(order_id: int) -> str:
    return f"FO-{order_id:06d}"


def _order(session: Session, ctx: ToolContext, raw: str) -> Order:
    m = re.fullmatch(r"\s*(?:FO)?\s*-?\s*(\d{1,9})\s*", raw, re.IGNORECASE)
    found = session.get(Order, int(m.group(1))) if m else None
    if found is None or found.user != ctx.user:
        raise ToolError(f"No order {raw!r} of yours: order ids look like FO-000042 (place_order gives one).")
    return found


# ---- search -----------------------------------------------------------------------------


@tool(domain="food")
def search_restaurants(
    ctx: ToolContext,
    city: str,
    cuisine: str | None = None,
    dish: str | None = None,
    exclude_allergens: list[str] | None = None,
    vegetarian: bool | None = None,
    max_delivery_min: int | None = None,
    open_at: str | None = None,
) -> dict[str, Any]:
    """Find restaurants that deliver in a city; returns the best 5 and why.

    Args:
        city: City name, e.g. Shanghai.
        cuisine: Kind of food, e.g. sichuan, cantonese, japanese.
        dish: A dish the user wants, e.g. dumplings.
        exclude_allergens: Allergens to avoid: peanut, shellfish, dairy, gluten, egg, soy.
        vegetarian: True if the user wants vegetarian dishes.
        max_delivery_min: Longest delivery time in minutes, only if asked.
        open_at: Time it must be open, HH:MM, only if asked.
    """
    session = _session(ctx)
    c = _city(session, city)
    avoid = _allergens(exclude_allergens)
    conds: list[ColumnElement[bool]] = [Restaurant.city == c]
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
            "message": _no_match(cuisine, dish, avoid, vegetarian, max_delivery_min),
        }
    rows = session.execute(
        base.order_by(Restaurant.rating.desc(), Restaurant.delivery_min, Restaurant.id).limit(TOP)
    ).all()
    now_min = _minute_of(_now())
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
    return {"city": c, "matches": total, "results": results}


def _no_match(
    cuisine: str | None, dish: str | None, avoid: list[str], vegetarian: bool | None, max_min: int | None
) -> str:
    set_ = [
        name
        for name, on in (
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
    restaurant_id: str,
    exclude_allergens: list[str] | None = None,
    max_spice: int | None = None,
) -> dict[str, Any]:
    """A restaurant's menu with item ids, prices, dietary tags, allergens and spice (0-3).

    Args:
        restaurant_id: Id like SH-R012.
        exclude_allergens: Allergens to hide: peanut, shellfish, dairy, gluten, egg, soy.
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
    everything = session.scalar(select(func.count(MenuItem.id)).where(MenuItem.restaurant_id == r.id)) or 0
    items = session.scalars(
        select(MenuItem).where(MenuItem.restaurant_id == r.id, *conds).order_by(MenuItem.id)
    ).all()
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
        menu.append(row)
    return {
        "restaurant": r.name,
        "id": r.id,
        "hours": _hours(r),
        "open_now": _is_open(r, _minute_of(_now())),
        "delivery_min": r.delivery_min,
        "delivery_fee": _money(r.delivery_fee, r.currency),
        "min_order": _money(r.min_order, r.currency),
        "items": menu,
        "hidden_by_filters": int(everything) - len(menu),
    }


# ---- ordering ---------------------------------------------------------------------------


class OrderItem(TypedDict):
    """One dish to order."""

    item_id: int
    quantity: int


class _Priced:
    """An order checked and priced, not yet written."""

    def __init__(
        self, r: Restaurant, lines: list[tuple[MenuItem, int]], eta: datetime, dispatch_at: datetime
    ) -> None:
        self.restaurant = r
        self.lines = lines
        self.eta = eta
        self.dispatch_at = dispatch_at
        self.subtotal = sum(item.price * qty for item, qty in lines)
        self.total = self.subtotal + r.delivery_fee


def _ride(r: Restaurant) -> timedelta:
    """Time from the kitchen door to the customer's."""
    return timedelta(minutes=min(15, r.delivery_min // 2))


def _price_order(
    session: Session,
    restaurant_id: str,
    items: list[OrderItem],
    address: str,
    deliver_at: str | None,
    exclude_allergens: list[str] | None,
) -> _Priced:
    """Check an order against every rule and price it; raises `ToolError` saying what to fix."""
    r = _restaurant(session, restaurant_id)
    if not items:
        raise ToolError("The order has no items: give a list of {item_id, quantity} from get_menu.")
    wanted: dict[int, int] = {}
    for line in items:
        item_id, qty = line.get("item_id"), line.get("quantity")
        if not isinstance(item_id, int) or not isinstance(qty, int) or isinstance(qty, bool):
            raise ToolError(f"Each item needs an integer item_id and quantity, got {line!r}.")
        if qty <= 0:
            raise ToolError(f"Quantity of item {item_id} must be at least 1, got {qty}.")
        wanted[item_id] = wanted.get(item_id, 0) + qty
        if wanted[item_id] > MAX_QUANTITY:
            raise ToolError(f"At most {MAX_QUANTITY} portions of one dish per order (item {item_id}).")
    found = {i.id: i for i in session.scalars(select(MenuItem).where(MenuItem.id.in_(list(wanted)))).all()}
    lines: list[tuple[MenuItem, int]] = []
    for item_id, qty in wanted.items():
        item = found.get(item_id)
        if item is None or item.restaurant_id != r.id:
            raise ToolError(f"Item {item_id} is not on {r.id}'s menu; use get_menu({r.id}) for item ids.")
        if item.stock_left is not None and item.stock_left < qty:
            raise ToolError(
                f"{item.name} is sold out for today"
                if item.stock_left == 0
                else f"Only {item.stock_left} portions of {item.name} are left today; order at most that many."
            )
        lines.append((item, qty))
    avoid = _allergens(exclude_allergens)
    for item, _ in lines:
        bad = [a for a in _item_allergens(item) if a in avoid]
        if bad:
            raise ToolError(
                f"{item.name} (item {item.id}) contains {', '.join(bad)}; remove it or pick another dish."
            )
    if not address.strip():
        raise ToolError("The delivery address is missing: ask the user where to deliver.")
    now = _now()
    cook = timedelta(minutes=r.delivery_min)
    if deliver_at:
        try:
            eta = _parse_when(deliver_at, now)
        except ValueError:
            raise ToolError(f"Bad time {deliver_at!r}: use HH:MM or YYYY-MM-DD HH:MM.") from None
        if eta < now + cook:
            raise ToolError(
                f"{r.name} needs {r.delivery_min} min, so the earliest delivery is "
                f"{(now + cook):%Y-%m-%d %H:%M}; leave deliver_at empty for as soon as possible."
            )
        if eta > now + MAX_AHEAD:
            raise ToolError("Deliveries can be scheduled at most 2 days ahead.")
        start = eta - cook
    else:
        eta, start = now + cook, now
    if not _is_open(r, _minute_of(start)):
        raise ToolError(
            f"{r.name} is closed at {start:%H:%M} (open {_hours(r)}). Schedule deliver_at for when it is "
            "open, or choose another restaurant."
        )
    priced = _Priced(r, lines, eta, eta - _ride(r))
    if priced.subtotal < r.min_order:
        raise ToolError(
            f"The food comes to {_money(priced.subtotal, r.currency)} but {r.name} delivers from "
            f"{_money(r.min_order, r.currency)}: add {_money(r.min_order - priced.subtotal, r.currency)} more."
        )
    return priced


def _request_hash(restaurant_id: str, items: list[OrderItem], address: str, deliver_at: str | None) -> str:
    merged: dict[int, int] = {}
    for line in items:
        merged[int(line["item_id"])] = merged.get(int(line["item_id"]), 0) + int(line["quantity"])
    blob = json.dumps(
        [_restaurant_id(restaurant_id), sorted(merged.items()), address.strip(), (deliver_at or "").strip()]
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _order_result(session: Session, o: Order, *, replayed: bool) -> dict[str, Any]:
    r = session.get_one(Restaurant, o.restaurant_id)
    lines = session.scalars(select(OrderLine).where(OrderLine.order_id == o.id).order_by(OrderLine.id)).all()
    return {
        "order_id": _order_ref(o.id),
        "restaurant": r.name,
        "items": [f"{ln.quantity} x {ln.name} = {_money(ln.line_total, o.currency)}" for ln in lines],
        "subtotal": _money(o.subtotal, o.currency),
        "delivery_fee": _money(o.delivery_fee, o.currency),
        "total_text": _money(o.total, o.currency),
        "payment_id": o.payment_id,
        "address": o.address,
        "eta": f"{o.eta:%Y-%m-%d %H:%M}",
        "status": _status(o, _now()),
        "replayed": replayed,
    }


def _add_lines(session: Session, order: Order, lines: list[tuple[MenuItem, int]]) -> None:
    """Record the order's dishes (a function of its own so tests can make it fail)."""
    session.add_all(
        OrderLine(
            order_id=order.id,
            item_id=item.id,
            name=item.name,
            quantity=qty,
            unit_price=item.price,
            line_total=item.price * qty,
        )
        for item, qty in lines
    )
    session.flush()


def _confirm_order(args: dict[str, Any], ctx: ToolContext) -> str:
    """What the user approves: dishes, total, address, time and the paying account."""
    plain = (
        f"Order from {args.get('restaurant_id')}: items {args.get('items')}, "
        f"deliver to {args.get('address')!r}"
        + (f" at {args['deliver_at']}" if args.get("deliver_at") else "")
    )
    if ctx.session is None:
        return plain
    try:
        p = _price_order(
            ctx.session,
            args["restaurant_id"],
            list(args.get("items") or []),
            str(args.get("address") or ""),
            args.get("deliver_at"),
            args.get("exclude_allergens"),
        )
    except ToolError as exc:
        return f"{plain}. It will be refused: {exc}"
    cur = p.restaurant.currency
    dishes = "; ".join(f"{q} x {i.name} ({_money(i.price * q, cur)})" for i, q in p.lines)
    pays = ledger.describe_payment(ctx.session, ctx.user, p.total, cur, quote_to=ctx)
    return (
        f"Order from {p.restaurant.name} ({p.restaurant.id}): {dishes}; delivery fee "
        f"{_money(p.restaurant.delivery_fee, cur)}; total {_money(p.total, cur)}. "
        f"Deliver to {args.get('address')} by {p.eta:%Y-%m-%d %H:%M}. Pay {pays}."
    )


@tool(domain="food", risk="payment", confirm_text=_confirm_order)
def place_order(
    ctx: ToolContext,
    restaurant_id: Annotated[str, FromResults("id", "restaurant_id")],
    items: list[OrderItem],
    address: Annotated[str, FromUser("the delivery address")],
    deliver_at: str | None = None,
    exclude_allergens: list[str] | None = None,
) -> dict[str, Any]:
    """Order delivery and pay from the wallet (needs the user's confirmation).

    Args:
        restaurant_id: Id like SH-R012.
        items: Dishes as [{item_id, quantity}] from get_menu.
        address: Delivery address.
        deliver_at: Delivery time HH:MM, empty for as soon as possible.
        exclude_allergens: Allergens the user must avoid; the order is refused if a dish has one.
    """
    session = _session(ctx)
    key = ctx.idempotency_key.strip() or None
    digest = _request_hash(restaurant_id, items, address, deliver_at)

    def replay(done: Order) -> dict[str, Any]:
        if done.request_hash != digest:
            raise ToolError(
                f"This call's idempotency key already placed {_order_ref(done.id)} with other items; "
                "not ordering again."
            )
        return _order_result(session, done, replayed=True)

    if key is not None:
        done = session.scalar(select(Order).where(Order.idempotency_key == key))
        if done is not None:
            return replay(done)
    p = _price_order(session, restaurant_id, items, address, deliver_at, exclude_allergens)
    r = p.restaurant
    order = Order(
        restaurant_id=r.id,
        user=ctx.user,
        run_id=ctx.run_id,
        address=address.strip(),
        placed_at=_now(),
        eta=p.eta,
        dispatch_at=p.dispatch_at,
        subtotal=p.subtotal,
        delivery_fee=r.delivery_fee,
        total=p.total,
        currency=r.currency,
        payment_id="",
        request_hash=digest,
        idempotency_key=key or f"food:{uuid.uuid4().hex}",
    )
    try:
        # One savepoint for the order, the stock, the payment and the lines: all or nothing,
        # and a lost idempotency race rolls back only this, not the caller's transaction.
        with session.begin_nested():
            session.add(order)
            session.flush()  # takes the idempotency key first: a racing twin waits here
            for item, qty in p.lines:
                if item.stock_left is not None:
                    res = session.execute(
                        update(MenuItem)
                        .where(MenuItem.id == item.id, MenuItem.stock_left >= qty)
                        .values(stock_left=MenuItem.stock_left - qty)
                        .execution_options(synchronize_session=False)
                    )
                    if not res.rowcount:  # type: ignore[attr-defined]
                        raise ToolError(f"{item.name} sold out while ordering; pick another dish.")
            payment = ledger.pay(
                session,
                user=ctx.user,
                amount=p.total,
                currency=r.currency,
                merchant=f"food:{r.id}",
                memo=f"{_order_ref(order.id)} {r.name}",
                idempotency_key=f"food:order:{order.idempotency_key}",
            )
            order.payment_id = payment.id
            _add_lines(session, order, p.lines)
    except IntegrityError:
        done = session.scalar(select(Order).where(Order.idempotency_key == key)) if key else None
        if done is None:
            raise
        return replay(done)
    for item, _ in p.lines:
        if item.stock_left is not None:
            session.refresh(item)
    return _order_result(session, order, replayed=False)


# ---- after the order --------------------------------------------------------------------


def _status(o: Order, now: datetime) -> str:
    """Where an order is, from the clock: placed → preparing → dispatched → delivered."""
    if o.cancelled_at is not None:
        return "cancelled"
    cook_from = min(max(o.placed_at + PREP_START, o.dispatch_at - COOK), o.dispatch_at)
    if now >= o.eta:
        return "delivered"
    if now >= o.dispatch_at:
        return "dispatched"
    if now >= cook_from:
        return "preparing"
    return "placed"


@tool(domain="food")
def order_status(ctx: ToolContext, order_id: str) -> dict[str, Any]:
    """Where an order is now: placed, preparing, dispatched, delivered or cancelled.

    Args:
        order_id: Id like FO-000042.
    """
    session = _session(ctx)
    o = _order(session, ctx, order_id)
    r = session.get_one(Restaurant, o.restaurant_id)
    status = _status(o, _now())
    return {
        "order_id": _order_ref(o.id),
        "restaurant": r.name,
        "status": status,
        "eta": f"{o.eta:%Y-%m-%d %H:%M}",
        "total_text": _money(o.total, o.currency),
        "can_cancel": status in ("placed", "preparing"),
    }


def _confirm_cancel(args: dict[str, Any], ctx: ToolContext) -> str:
    raw = str(args.get("order_id"))
    if ctx.session is None:
        return f"Cancel order {raw} and refund it to the wallet."
    try:
        o = _order(ctx.session, ctx, raw)
    except ToolError as exc:
        return f"Cancel order {raw}. It will be refused: {exc}"
    return (
        f"Cancel order {_order_ref(o.id)} (total {_money(o.total, o.currency)}) and refund "
        f"{_money(o.total, o.currency)} to {ctx.user}'s wallet."
    )


@tool(domain="food", risk="write", confirm_text=_confirm_cancel)
def cancel_order(ctx: ToolContext, order_id: Annotated[str, FromResults("order_id")]) -> dict[str, Any]:
    """Cancel an order before the rider leaves, with a full refund (needs confirmation).

    Args:
        order_id: Id like FO-000042.
    """
    session = _session(ctx)
    key = ctx.idempotency_key.strip() or None
    o = _order(session, ctx, order_id)

    def result(replayed: bool) -> dict[str, Any]:
        return {
            "order_id": _order_ref(o.id),
            "status": "cancelled",
            "refund_id": o.refund_id,
            "refunded": _money(o.total, o.currency),
            "replayed": replayed,
        }

    if o.cancelled_at is not None:
        return result(replayed=True)
    now = _now()
    if now >= o.dispatch_at:
        raise ToolError(
            f"{_order_ref(o.id)} left the kitchen at {o.dispatch_at:%H:%M} ({_status(o, now)}); "
            "it can no longer be cancelled."
        )
    with session.begin_nested():
        res = session.execute(
            update(Order)
            .where(Order.id == o.id, Order.cancelled_at.is_(None))
            .values(cancelled_at=now, cancel_key=key)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount:  # type: ignore[attr-defined]
            back = ledger.refund(
                session,
                payment_id=o.payment_id,
                amount=o.total,
                memo=f"Cancelled {_order_ref(o.id)}",
                idempotency_key=f"food:cancel:{o.id}",
            )
            session.execute(update(Order).where(Order.id == o.id).values(refund_id=back.id))
            for line in session.scalars(select(OrderLine).where(OrderLine.order_id == o.id)).all():
                session.execute(
                    update(MenuItem)
                    .where(MenuItem.id == line.item_id, MenuItem.stock_left.is_not(None))
                    .values(stock_left=MenuItem.stock_left + line.quantity)
                )
    replayed = not res.rowcount  # type: ignore[attr-defined]
    session.refresh(o)
    return result(replayed=replayed)


TOOLS = (search_restaurants, get_menu, place_order, order_status, cancel_order)
"""The domain's tools in their fixed order."""
