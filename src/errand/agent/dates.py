"""Dates as people type them, resolved against the run's clock before the model sees them.

Small models turn "the 7th", "next Friday" or "12月7号" into today's date or the current
month, search in the past, are refused, and give up. errand reads those phrases itself and
tells the model the calendar date each one means, next to the request; the model then only
copies an ISO date. Resolution follows the way people mean them:

- a month and day, or a day of the month alone ("the 7th", "7号"): the next such day, today included;
- a bare weekday ("friday", "周五"): the next one, today included;
- "this friday" / "这周五" / "本周五": this week's (weeks start on Monday), or the next one if it has passed;
- "next friday" / "下周五": the one in next week;
- "this weekend" / "next weekend" / "下周末": that Saturday and Sunday;
- a holiday on a fixed day ("xmas eve", "元旦", "国庆"): its next date, today included.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import date, datetime, timedelta

from errand.tools.numbers import EN_COUNTS, ZH_COUNTS

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ],
        1,
    )
    for m in names
}  # fmt: skip
_WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5,
    "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "1": 0, "2": 1,
                "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}  # fmt: skip
_ZH_DIGITS = {"〇": 0} | {c: n for c, n in ZH_COUNTS.items() if n < 10}
_EN_COUNTS = {"a": 1, "an": 1} | EN_COUNTS

_HOLIDAYS = {
    "christmas eve": (12, 24), "xmas eve": (12, 24), "christmas": (12, 25), "xmas": (12, 25),
    "new year's eve": (12, 31), "new years eve": (12, 31), "nye": (12, 31),
    "new year's day": (1, 1), "new years day": (1, 1), "new year's": (1, 1), "new year": (1, 1),
    "valentine's day": (2, 14), "valentines day": (2, 14), "valentine's": (2, 14), "valentines": (2, 14),
    "halloween": (10, 31), "平安夜": (12, 24), "圣诞节": (12, 25), "圣诞": (12, 25), "跨年": (12, 31),
    "元旦": (1, 1), "情人节": (2, 14), "万圣节": (10, 31), "劳动节": (5, 1), "五一": (5, 1),
    "儿童节": (6, 1), "国庆节": (10, 1), "国庆": (10, 1),
}  # fmt: skip
"""Holidays on a fixed day of the Gregorian calendar (lunar ones, 春节 or 中秋, are not read; nor
are shopping days like 双11, mostly named for a purchase already made)."""

_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_HOLIDAY = "|".join(re.escape(h) for h in sorted(_HOLIDAYS, key=len, reverse=True))
_WEEKDAY = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_ZH_NUM = r"[0-9０-９]{1,2}|[一二三四五六七八九十两〇零]{1,3}"
_ORD = r"(?:st|nd|rd|th)?"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")),
    ("month_day", re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}}){_ORD}\b(?:,?\s*(\d{{4}}))?", re.I)),
    ("day_month", re.compile(rf"\b(\d{{1,2}}){_ORD}\s+(?:of\s+)?({_MONTH})\b\.?(?:,?\s*(\d{{4}}))?", re.I)),
    ("zh_month_day", re.compile(rf"(?:(\d{{4}})年)?({_ZH_NUM})月({_ZH_NUM})[日号號]?")),
    ("slash", re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])")),
    ("day_after", re.compile(r"\b(?:the\s+)?day\s+after\s+tomorrow\b", re.I)),
    ("holiday", re.compile(rf"(?<![A-Za-z])(?:{_HOLIDAY})(?![A-Za-z])", re.I)),
    ("zh_offset", re.compile(r"大后天|后天|明天|明晚|明早|明日|今天|今晚|今日|今早|今夜")),
    ("en_offset", re.compile(r"\b(today|tonight|tomorrow|tmrw|tmr)\b", re.I)),
    ("in_n", re.compile(r"\bin\s+(\d+|" + "|".join(_EN_COUNTS) + r")\s+(days?|weeks?)\b", re.I)),
    ("zh_in_n", re.compile(rf"({_ZH_NUM})(天|周|个星期|星期)(?:以?后|之后)")),
    ("weekend", re.compile(r"\b(this|next|coming)\s+weekend\b", re.I)),
    ("zh_weekend", re.compile(r"(下|这|本)(?:个)?周末")),
    ("weekday", re.compile(rf"\b(?:(this|next|coming)\s+)?({_WEEKDAY})\b", re.I)),
    ("zh_weekday", re.compile(r"(下|这|本)?(?:个)?(?:周|星期|礼拜)([一二三四五六日天1-7])")),
    ("the_day", re.compile(r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\b", re.I)),
    ("zh_day", re.compile(rf"(?<![月\d])({_ZH_NUM})[号號](?!码|楼|线|房|室|门)")),
]
"""Tried in order; a span already read by an earlier pattern is not read again."""


def _zh_number(text: str) -> int:
    """1-99 written in digits (also full width) or Chinese numerals (十二, 二十一)."""
    text = text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_ZH_DIGITS.get(tens, 1) if tens else 1) * 10 + (_ZH_DIGITS.get(ones, 0) if ones else 0)
    return _ZH_DIGITS.get(text, 0) if len(text) == 1 else int("".join(str(_ZH_DIGITS[c]) for c in text))


def _on_or_after(today: date, month: int, day: int, year: int | None = None) -> date | None:
    """The next month/day from today (today included); None if no such date."""
    try:
        if year is not None:
            return date(year, month, day)
        found = date(today.year, month, day)
        return found if found >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


def _day_of_month(today: date, day: int) -> date | None:
    """The next day-of-month ``day`` from today (today included)."""
    for ahead in range(0, 3):
        month0 = today.month - 1 + ahead
        try:
            found = date(today.year + month0 // 12, month0 % 12 + 1, day)
        except ValueError:
            continue
        if found >= today:
            return found
    return None


def _weekday(today: date, weekday: int, which: str) -> date:
    monday = today - timedelta(days=today.weekday())
    if which == "next":
        return monday + timedelta(days=7 + weekday)
    if which == "this":
        found = monday + timedelta(days=weekday)
        return found if found >= today else found + timedelta(days=7)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _which(word: str | None) -> str:
    word = (word or "").lower()
    return {"next": "next", "下": "next", "this": "this", "coming": "this", "这": "this", "本": "this"}.get(
        word, ""
    )


def _resolve(kind: str, m: re.Match[str], today: date) -> list[date]:
    g = m.groups()
    if kind == "iso":
        return []  # already a calendar date
    if kind == "month_day":
        found = _on_or_after(today, _MONTHS[g[0].lower()], int(g[1]), int(g[2]) if g[2] else None)
    elif kind == "day_month":
        found = _on_or_after(today, _MONTHS[g[1].lower()], int(g[0]), int(g[2]) if g[2] else None)
    elif kind == "zh_month_day":
        found = _on_or_after(today, _zh_number(g[1]), _zh_number(g[2]), int(g[0]) if g[0] else None)
    elif kind == "slash":
        found = _on_or_after(today, int(g[0]), int(g[1]))
    elif kind == "holiday":
        found = _on_or_after(today, *_HOLIDAYS[m.group(0).lower()])
    elif kind == "day_after":
        found = today + timedelta(days=2)
    elif kind == "zh_offset":
        word = m.group(0)
        ahead = 3 if word == "大后天" else 2 if word == "后天" else 1 if word.startswith("明") else 0
        found = today + timedelta(days=ahead)
    elif kind == "en_offset":
        found = today + timedelta(days=0 if g[0].lower() in ("today", "tonight") else 1)
    elif kind == "in_n":
        n = int(g[0]) if g[0].isdigit() else _EN_COUNTS[g[0].lower()]
        found = today + timedelta(days=n * (7 if g[1].lower().startswith("week") else 1))
    elif kind == "zh_in_n":
        n = _zh_number(g[0])
        found = today + timedelta(days=n * (1 if g[1] == "天" else 7))
    elif kind in ("weekend", "zh_weekend"):
        which = _which(g[0])
        saturday = (
            _weekday(today, 5, "next")
            if which == "next"
            else today
            if today.weekday() >= 5
            else _weekday(today, 5, "")
        )
        if today.weekday() == 6 and which != "next":
            return [today]
        return [saturday, saturday + timedelta(days=1)]
    elif kind == "weekday":
        found = _weekday(today, _WEEKDAYS[g[1].lower()], _which(g[0]))
    elif kind == "zh_weekday":
        found = _weekday(today, _ZH_WEEKDAYS[g[1]], _which(g[0]))
    elif kind == "the_day":
        found = _day_of_month(today, int(g[0]))
    elif kind == "zh_day":
        found = _day_of_month(today, _zh_number(g[0]))
    else:  # pragma: no cover - every pattern is handled above
        return []
    return [found] if found is not None else []


def resolve_dates(text: str, today: date) -> list[tuple[str, list[date]]]:
    """Each date phrase in ``text`` (in order) with the calendar date(s) it means from ``today``.

    A holiday named beside another date is the occasion, not the day: "元旦想去哈尔滨，12月31号
    出发" leaves on 2026-12-31 (dev tr-u-zh-yuandan-harbin searched 2027-01-01, the first note)."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str, list[date], bool]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            start, end = m.span()
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            dates = _resolve(kind, m, today)
            if dates:
                found.append((start, m.group(0).strip(), dates, kind == "holiday"))
    stated = any(not holiday for *_, holiday in found)
    return [(phrase, dates) for _, phrase, dates, holiday in sorted(found) if not (holiday and stated)]


def date_notes(text: str, today: date) -> str:
    """``"next friday" = 2026-12-04 (Friday); ...`` for the phrases in ``text``; empty if none."""
    parts = []
    for phrase, dates in resolve_dates(text, today):
        shown = " to ".join(f"{d.isoformat()} ({d:%A})" for d in dates)
        parts.append(f'"{phrase}" = {shown}')
    return "; ".join(dict.fromkeys(parts))


def now_text() -> str:
    """Local date, time and time zone: errands are about "tonight", "next Friday", "now in Tokyo"."""
    now = datetime.now().astimezone()
    return f"{now:%Y-%m-%d %H:%M}, {now:%A}, time zone {_local_zone() or now.strftime('UTC%z')}"


@functools.cache
def _local_zone() -> str | None:
    """The IANA name of the local time zone (``Asia/Shanghai``), when the system says."""
    if os.environ.get("TZ", "").strip(":"):
        return os.environ["TZ"].strip(":")
    target = os.path.realpath("/etc/localtime")
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else None


# ---- times of day given as limits ------------------------------------------------------------

_EN_TIME = r"(?P<h>\d{1,2})(?:(?::(?P<m>\d{2}))\s*(?P<ampm>[ap]\.?m\.?)?|\s*(?P<ampm2>[ap]\.?m\.?)|\s*o'clock)(?![\w:])"
"""A time of day in English: ``14:30``, ``2pm``, ``2:30 p.m.``, ``9 o'clock`` (a bare number is a count)."""
_ZH_TIME = (
    r"(?P<part>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?\s*(?P<zh>" + _ZH_NUM + r")\s*[点點时]"
    r"(?:\s*(?P<half>半)|\s*(?P<zm>" + _ZH_NUM + r")\s*分?)?"
)
_TIME_LIMITS = [
    ("after", re.compile(r"(?:can't|cannot|can not|won't)\s+(?:leave|go|depart)\s+(?:before|until)\s+" + _EN_TIME, re.I)),
    # "need to be in beijing by 2pm", "arrive before 18:00", "land by 9"
    ("arrive", re.compile(r"\b(?:arriv\w*|land\w*|get (?:there|in)|be (?:there|in \w+|at \w+))\s+"
                          r"(?:by|before|no later than)\s+" + _EN_TIME, re.I)),
    ("arrive", re.compile(r"\bby\s+" + _EN_TIME + r"(?=\s*(?:to|at|in)?\s*(?:arrive|get|be)\b)", re.I)),
    ("before", re.compile(r"\b(?:leav\w*|depart\w*|go|set off)\s+(?:by|before|no later than)\s+" + _EN_TIME, re.I)),
    ("arrive", re.compile(r"\bby\s+" + _EN_TIME, re.I)),
    ("before", re.compile(r"\b(?:before|until|till|no later than|not later than|at the latest)\s+" + _EN_TIME, re.I)),
    ("after", re.compile(r"\b(?:after|from|no earlier than|not before|not earlier than|at the earliest)\s+"
                         + _EN_TIME, re.I)),
    ("arrive", re.compile(_ZH_TIME + r"\s*(?:之前|以前|前)\s*(?:到|抵达|到达)")),
    ("before", re.compile(r"不晚于\s*" + _ZH_TIME)),
    ("before", re.compile(_ZH_TIME + r"\s*(?:之前|以前|前)")),
    ("after", re.compile(r"不早于\s*" + _ZH_TIME)),
    ("after", re.compile(_ZH_TIME + r"\s*(?:之后|以后|后|起)")),
]  # fmt: skip
"""Which end of the day a time bounds: "after 10am" is the earliest departure, "before 9" or
"9点前" the latest departure, "be there by 2pm" or "2点前到" the latest arrival. A "can't
leave before 10" is an earliest departure. First match wins for each time."""


def _minute(m: re.Match[str]) -> int | None:
    """The time ``m`` names, as minutes after midnight (None when it is not a time of day)."""
    groups = m.groupdict()
    if groups.get("zh"):
        hour = _zh_number(groups["zh"])
        minute = 30 if groups.get("half") else _zh_number(groups["zm"]) if groups.get("zm") else 0
        afternoon = groups.get("part") in ("下午", "傍晚", "晚上") or (
            groups.get("part") == "中午" and hour < 6
        )
        if afternoon and hour < 12:
            hour += 12
    else:
        hour, minute = int(groups["h"]), int(groups["m"] or 0)
        ampm = (groups.get("ampm") or groups.get("ampm2") or "").lower()
        if ampm.startswith("p") and hour < 12:
            hour += 12
        elif ampm.startswith("a") and hour == 12:
            hour = 0
    return hour * 60 + minute if 0 <= hour <= 24 and 0 <= minute < 60 else None


def time_limits(text: str) -> dict[int, str]:
    """Times of day ``text`` gives as limits (minutes after midnight), each ``"after"`` (the
    earliest departure), ``"before"`` (the latest departure) or ``"arrive"`` (the latest
    arrival). A time read two ways is left out."""
    found: dict[int, set[str]] = {}
    taken: list[tuple[int, int]] = []
    for side, pattern in _TIME_LIMITS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            minute = _minute(m)
            if minute is not None:
                taken.append(m.span())
                found.setdefault(minute, set()).add(side)
    return {t: next(iter(s)) for t, s in found.items() if len(s) == 1}
