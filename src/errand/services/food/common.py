"""What the food tools share: the session, cities, opening hours, restaurant and order ids.

Prices in outputs are text such as ``"32.00 CNY"``; the database keeps minor units. Times are
wall-clock times in the food cities (UTC+8) without a zone: a tool reads
``local_time(ctx.now())`` once and hands it on as ``now``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.food.models import Order, Restaurant
from errand.services.wallet import ledger
from errand.tools import ToolContext


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


_ZH_HOURS = ("零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二")


def said_open_at(value: Any) -> tuple[str, ...]:
    """The ways a user says a place must be open at ``value``: the time (`said_clock`), or
    now (营业, "open now")."""
    return (*said_clock(value), "now", "open", "现在", "营业", "开门")


def said_clock(value: Any) -> tuple[str, ...]:
    """The ways a user says the time ``value`` (``19:00`` ← "7pm", "7:00 pm", "19点"), so that
    the "12" of "12 Keyuan Road" is no noon, and "right now" no delivery time."""
    try:  # of a date and time ("2026-12-07 12:00", the date resolved from "tomorrow"), the time
        minute = _parse_clock(re.split(r"[ T]", str(value).strip())[-1])
    except ValueError:
        return ()
    h, m = divmod(minute, 60)
    h12, half = h % 12 or 12, ("pm" if h >= 12 else "am")
    clock = [f"{h}:{m:02d}", f"{h:02d}:{m:02d}", f"{h12}:{m:02d}{half}", f"{h12}:{m:02d} {half}"]
    if m == 0:
        spoken = ("at", "by", "around", "for")  # "dinner tonight at 7"
        clock += [f"{h12}{half}", f"{h12} {half}", f"{h}点", f"{h12}点", f"{_ZH_HOURS[h12]}点"]
        clock += [f"{w} {h12}" for w in spoken] + [f"{h12} o'clock"]
    else:
        clock += [f"{h}点{m}", f"{h12}点{m}", *([f"{h}点半", f"{h12}点半"] if m == 30 else [])]
    if (h, m) == (12, 0):
        clock += ["noon", "中午"]
    return tuple(clock)


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
