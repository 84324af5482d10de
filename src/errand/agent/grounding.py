"""Check that the numbers in an answer come from tool results or the request.

Small models invent figures (a mortgage payment they never computed). The check
is lenient about formatting (``5,800,000`` = ``5.8M`` = ``580万`` = ``5.8 million``;
``500m`` is 500 metres or 500 million, ``1.2km`` = ``1,200 m``) and strict about values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence, Set
from typing import Any

from errand.agent.observations import leaves
from errand.llm.types import ToolCall
from errand.tools import ToolRegistry
from errand.tools.numbers import COUNT_WORDS
from errand.tools.provenance import FromUser, Provenance, asked_values

_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])(?<![A-Za-z0-9_.]-)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*"
    r"(million|billion|thousand|km(?![a-zA-Z])|公里|千米|[kKmM](?![a-zA-Z²])|万|亿|千|百)?"
)
_SCALE = {
    "k": (1e3,), "thousand": (1e3,), "千": (1e3,), "百": (1e2,), "million": (1e6,), "万": (1e4,), "亿": (1e8,),
    "billion": (1e9,),
    # "500m" is 500 metres as often as half a billion; "1.2km" is 1,200 m: each reading counts
    "m": (1e6, 1.0), "km": (1e3, 1.0), "公里": (1e3, 1.0), "千米": (1e3, 1.0),
}  # fmt: skip


_WORDS = {w: str(n) for w, n in COUNT_WORDS.items() if n}
_WORD = re.compile(
    r"\b(?:"
    + "|".join(w for w in _WORDS if w.isascii())
    + r")\b|["
    + "".join(w for w in _WORDS if not w.isascii())
    + "]",
    re.I,
)


_ISO_T = re.compile(r"(?<=\d)T(?=\d)")
_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
_DURATION = re.compile(r"(?<![A-Za-z0-9])(\d{1,3})\s*h\s*(\d{1,2})\s*m(?:in)?(?![A-Za-z])", re.I)


def _duration(m: re.Match[str]) -> str:
    hours, minutes = int(m.group(1)), int(m.group(2))
    return f" {hours} h {minutes} min ({hours * 60 + minutes} min) "


def numbers_in(text: str) -> list[tuple[str, float]]:
    """Every number written in ``text``, with its value after units like M or 万.

    Number words (``three``, ``三``) count too: "三居室" states 3 bedrooms.
    """
    text = _WORD.sub(lambda m: f" {_WORDS[m.group(0).lower()]} ", text)
    text = _ISO_T.sub(" ", text)  # 2026-11-29T15:30 states the time 15:30
    text = _ISO_DATE.sub(r"\1 \2 \3", text)  # 2026-11-29 states the day 29 and the month 11
    text = _DURATION.sub(_duration, text)  # 1h05m states 1 hour, 5 minutes and 65 minutes
    out: list[tuple[str, float]] = []
    for m in _NUMBER.finditer(text):
        whole, frac, unit = m.group(1), m.group(2) or "", m.group(3)
        value = float(whole.replace(",", "") + frac)
        scales = _SCALE[unit.lower() if unit.isascii() else unit] if unit else (1.0,)
        out.extend((m.group(0).strip(), value * scale) for scale in scales)
    return out


_MEASURE = re.compile(
    r"(?<![A-Za-z0-9_.])(\d+(?:\.\d+)?)(?!(?:k|m|km|w|mn|bn|rmb|cny|sgd|usd|yuan|dollars?|bucks)(?![A-Za-z]))[A-Za-z]+"
)
"""A number with a unit of measure written in letters against it (``20000mAh``, ``256GB``,
``55inch``): a specification, not an amount of money. ``k``, ``m``, ``w`` (万) and currency
codes scale or price it; a word after a space ("400 a night", "300 per person") may price it."""
_MONEY_PARAMETER = re.compile(r"price|budget|cost|amount|fee", re.I)
"""A parameter that takes money, by the name its tool gives it (``max_price``, ``budget_cny``)."""


def measured_only(text: str) -> set[float]:
    """Numbers ``text`` writes only with a unit of measure (`_MEASURE`): "cheapest 20000mah power
    bank" states no price of 20,000, though 20000 is stated."""
    measured = {float(m.group(1)) for m in _MEASURE.finditer(text)}
    plain = {
        float(m.group(1).replace(",", "") + (m.group(2) or ""))
        for m in _NUMBER.finditer(_MEASURE.sub(" ", text))
    }
    return measured - plain


_UNIT_WORD = r"(?:[¥$€£]|rmb|cny|sgd|usd|yuan|dollars?|元|块钱?|新元|万元|米|平米?|平方米?|m2|m²|㎡|minutes?|mins?|分钟)?"
_LIMIT = re.compile(
    r"(?:(?P<low>no less than|not less than|no fewer than|at least|more than|over|above|min(?:imum)?|"
    r">=?|≥|(?:不|别)(?:少于|低于|小于)|超过|高于|大于|多于|至少|最少)|"
    r"(?P<high>not more than|no more than|not over|less than|fewer than|at most|up to|under|below|"
    r"within|max(?:imum)?|cheaper than|budget(?: of| is)?|<=?|≤|"
    r"(?:不|别|不要|不能|不得|不可|勿)(?:超过|超出|超|高于|多于)|不到|低于|少于|小于|最多|预算(?:是|为)?))"
    r"\s*" + _UNIT_WORD + r"\s*$",
    re.I,
)
_LIMIT_AFTER = re.compile(
    r"^\s*" + _UNIT_WORD + r"\s*(?:(?P<high>以内|以下|之内|内|or less|or under|or below|max|tops)|"
    r"(?P<low>以上|or more|or above|plus|\+|起))",
    re.I,
)


def limits_in(text: str) -> dict[float, str]:
    """The numbers ``text`` gives as limits, each ``"high"`` (under 3M, 150万以内, 500米内) or
    ``"low"`` (at least 4.5, 3000以上), every reading of a number counted as `numbers_in` reads it.

    A number read both ways (or neither) is left out: only a clear limit says which end of a
    range the user meant."""
    text = _WORD.sub(lambda m: f" {_WORDS[m.group(0).lower()]} ", text)
    found: dict[float, set[str]] = {}
    for m in _NUMBER.finditer(text):
        before = _LIMIT.search(text[max(0, m.start() - 24) : m.start()])
        after = _LIMIT_AFTER.match(text[m.end() : m.end() + 16])
        sides = {k for g in (before, after) if g for k, v in g.groupdict().items() if v}
        if not sides:
            continue
        whole, frac, unit = m.group(1), m.group(2) or "", m.group(3)
        value = float(whole.replace(",", "") + frac)
        for scale in _SCALE[unit.lower() if unit.isascii() else unit] if unit else (1.0,):
            found.setdefault(value * scale, set()).update(sides)
    return {v: next(iter(k)) for v, k in found.items() if len(k) == 1}


def orient_limits(
    arguments: dict[str, Any], parameters: dict[str, Any], limits: dict[float, str]
) -> tuple[dict[str, Any], list[str]]:
    """Put a limit the user gave at its end of the range: a small model writes "150万以内" as
    ``min_price`` as readily as ``max_price``, and the search then finds the wrong homes. A
    ``min_X`` holding a number the user gave as an upper limit becomes ``max_X`` (and the other
    way), where the tool has both; returns the arguments and what was moved."""
    props = parameters.get("properties", {})
    out = dict(arguments)
    moved = []
    for name, value in arguments.items():
        end, _, rest = name.partition("_")
        if end not in ("min", "max") or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        other = ("max_" if end == "min" else "min_") + rest
        said = {side for v, side in limits.items() if _matches(abs(float(value)), {v}, minor_units=False)}
        if other not in props or said != {"high" if end == "min" else "low"}:
            continue
        del out[name]
        if arguments.get(other) in (None, "", value):
            out[other] = value
        moved.append(f"{name}={value} is used as {other}")
    return out, moved


def _walk(value: Any) -> Iterable[float]:
    for leaf in leaves(value):
        if isinstance(leaf, bool):
            continue
        if isinstance(leaf, int | float):
            yield abs(float(leaf))  # "fell 1.4%" states -1.4 without its sign
        elif isinstance(leaf, str):
            for _, v in numbers_in(leaf):
                yield v


def numbers_of(value: Any) -> set[float]:
    """Numbers in plain JSON data (a tool's result), without serialising it first."""
    return set(_walk(value))


def known_numbers(sources: Iterable[str]) -> set[float]:
    """Numbers found in tool results (JSON or text) and the request."""
    known: set[float] = set()
    for s in sources:
        try:
            known.update(_walk(json.loads(s)))
        except ValueError:
            known.update(v for _, v in numbers_in(s))
    return known


def _matches(value: float, known: Set[float], *, minor_units: bool = True) -> bool:
    """Whether ``value`` is one of ``known``, allowing for rounding and (``minor_units``) a
    figure in fen or cents shown in whole units."""
    if value == 0:
        return 0.0 in known
    for k in known:
        for scaled in (k, k / 100) if minor_units else (k,):
            if abs(value - scaled) <= max(0.005 * abs(scaled), 0.01):
                return True
            # rounded forms: 5.83M for 5,832,000; 71% for 71.4
            if scaled and abs(value - scaled) / abs(scaled) <= 0.01 and value != 0:
                return True
    return False


def unverified_numbers(answer: str, sources: Iterable[str]) -> list[str]:
    """Numbers in ``answer`` that appear nowhere in ``sources``; small ordinals (1-10) are ignored."""
    return unverified_in(answer, known_numbers(sources))


def unverified_in(answer: str, known: set[float]) -> list[str]:
    """Numbers in ``answer`` that are not in ``known``; small ordinals (1-10) are ignored."""
    readings: dict[str, list[float]] = {}
    for text, value in numbers_in(answer):
        readings.setdefault(text, []).append(value)
    out = []
    for text, values in readings.items():
        if any(v <= 10 and v == int(v) for v in values):
            continue  # list positions, counts like "3 bedrooms" stated by the user
        if not any(_matches(v, known) for v in values):  # one reading of "500m" is enough
            out.append(text)
    return out


_NO_VALUE = frozenset(
    {"", "none", "any", "all", "n/a", "na", "null", "nil", "-", "无", "没有", "不限", "任意", "全部", "随便"}
)
"""How a small model writes "no filter" in an optional field ("dish": "无" finds no restaurant)."""


def _no_value(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().casefold() in _NO_VALUE)


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::\d{2})?")
"""A time of day as a tool argument takes it (``08:00``)."""


def ground_arguments(
    arguments: dict[str, Any],
    parameters: dict[str, Any],
    known: set[float],
    measured: Set[float] = frozenset(),
    said: Set[float] | None = None,
    own: Set[str] = frozenset(),
) -> tuple[dict[str, Any], list[str]]:
    """Drop optional numeric arguments that neither the request nor a tool result states.

    Under a JSON grammar a small model fills every optional filter with something
    (``min_price`` equal to the budget, ``max_metro_distance_m: 0``); a number the
    user never gave is not a constraint the user asked for. Nor is a price the user stated
    only as a measure (``measured``, `measured_only`: "20000mah" searched as
    ``max_price=20000``). Where ``said`` (the numbers the user stated) is given, a ``min_`` or
    ``max_`` filter must be one of them: a search's limit is the user's, and a result's "4"
    is no wish for hotels rated 4 or more. ``own`` names the parameters with words of their own
    (`FromUser`), judged by those ("不要太辣" is a spice level of 1). Required arguments are kept, and so is anything
    that is not a number. Returns the arguments to use and the names dropped.
    """
    required = set(parameters.get("required", ()))
    props = parameters.get("properties", {})
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in arguments.items():
        if name not in required:  # an empty optional field ("", "无", "any") means "not asked"
            if isinstance(value, list) and value:
                value = [v for v in value if not _no_value(v)]
                if not value:
                    continue
            elif _no_value(value):
                continue
        spec = props.get(name, {})
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        clock = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
        if clock is not None and name not in required:  # "depart after 08:00" nobody asked for
            hour = int(clock.group(1))
            if not any(_matches(h, known, minor_units=False) for h in (hour, hour - 12) if h > 0):
                dropped.append(f"{name}={value}")
                continue
        if numeric and name not in required and _MONEY_PARAMETER.search(name) and float(value) in measured:
            dropped.append(f"{name}={value}")
            continue
        stated = (
            name in required
            or name in own  # judged by its own words (`unsaid_filters`)
            or not numeric
            or bool(spec.get("enum"))
            or ("default" in spec and value == spec["default"])
            # an argument is the user's figure itself: "500米" states 500, not 5 (minor units)
            or _matches(abs(float(value)), _source(name, known, said), minor_units=False)
        )
        if stated:
            kept[name] = value
        else:
            dropped.append(f"{name}={value}")
    return kept, dropped


def _source(name: str, known: set[float], said: Set[float] | None) -> Set[float]:
    """The numbers a value of parameter ``name`` must be among: the user's, for a search's
    ``min_`` / ``max_`` filter; else any the request or a result states."""
    return said if said is not None and name.startswith(("min_", "max_")) else known


def orient_times(
    arguments: dict[str, Any], parameters: dict[str, Any], times: dict[int, str]
) -> tuple[dict[str, Any], list[str]]:
    """Put a time of day the user gave as a limit (`errand.agent.dates.time_limits`) in the
    parameter for that limit: "need to be in Beijing by 2pm" searched as ``depart_after: 14:00``
    finds only flights that land too late. A ``*_after`` / ``*_before`` time becomes the
    earliest departure, the latest departure or the latest arrival the user meant, where the
    tool has that parameter; returns the arguments and what was moved."""
    props = parameters.get("properties", {})
    out = dict(arguments)
    moved = []
    for name, value in arguments.items():
        clock = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
        prefix, _, end = name.rpartition("_")
        if clock is None or end not in ("after", "before"):
            continue
        side = times.get(int(clock.group(1)) * 60 + int(clock.group(2)))
        targets = {
            "after": (f"{prefix}_after", "depart_after"),
            "before": (f"{prefix}_before", "depart_before"),
            "arrive": ("arrive_before", f"{prefix}_before"),
        }.get(side or "", ())
        target = next((t for t in targets if t in props), name)
        if target == name or out.get(target) not in (None, value):
            continue
        del out[name]
        out[target] = value
        moved.append(f"{name}={value} is used as {target}")
    return out, moved


def unsaid_filters(
    arguments: dict[str, Any],
    parameters: dict[str, Any],
    provenance: Mapping[str, Provenance],
    said: Sequence[str],
) -> tuple[dict[str, Any], list[str]]:
    """Drop optional `FromUser` arguments the user never said: such a parameter is a filter
    only the user sets (``wallet_balance(currency="CNY")`` for "all currencies pls", a cuisine,
    six allergens and ``vegetarian: true`` for "dinner for two"), so a value the model filled in
    narrows what the user asked to see. Each item of a list counts alone; a flag that is off
    filters nothing. A required one is asked for instead."""
    required = set(parameters.get("required", ()))
    kept, dropped = dict(arguments), []
    for name, source in provenance.items():
        value = arguments.get(name)
        off = value is None or value is False or value == [] or value == ""  # 0 is a spice level
        if not isinstance(source, FromUser) or name in required or off:
            continue
        if isinstance(value, list):
            unsaid = [v for v in value if not source.said_in(v, said)]
            rest = [v for v in value if source.said_in(v, said)]
            if rest:
                kept[name] = rest
            else:
                del kept[name]
            dropped += [f"{name}={', '.join(map(str, unsaid))}"] if unsaid else []
        elif not source.said_in(value, said):
            del kept[name]
            dropped.append(f"{name}={value if isinstance(value, str) else json.dumps(value)}")
    return kept, dropped


def said_filters(
    arguments: dict[str, Any],
    parameters: dict[str, Any],
    provenance: Mapping[str, Provenance],
    said: Sequence[str],
) -> tuple[dict[str, Any], list[str]]:
    """Set an optional `FromUser` filter of fixed choices that the model left out, where the
    user's words (``said``) name exactly one of them in the service's own vocabulary (``said_as``).

    The 1.5B leaves such filters out: "这周外卖哪一单最贵" read ten rows with no period and named
    the first (dev wl-u-priciest-food-week-zh). The words are the service's table, so this reads
    nothing errand does not already read to keep a filter the model did set (`unsaid_filters`)."""
    filled = dict(arguments)
    changes = []
    props = parameters.get("properties", {})
    for name, source in provenance.items():
        if (
            not isinstance(source, FromUser)
            or source.said_as is None
            or arguments.get(name) not in (None, "")
        ):
            continue
        # a Python tool's schema shows `Literal[...] | None` as its plain enum (`_compact_schema`)
        named = [v for v in props.get(name, {}).get("enum", ()) if source.said_in(v, said)]
        if len(named) == 1:
            filled[name] = named[0]
            changes.append(f"{name}={json.dumps(named[0], ensure_ascii=False)} is set (the user said it)")
    return filled, changes


def ground_calls(
    calls: list[ToolCall],
    registry: ToolRegistry,
    known: set[float],
    limits: dict[float, str] | None = None,
    times: dict[int, str] | None = None,
    said: Sequence[str] = (),
    results: Sequence[Any] = (),
) -> tuple[list[ToolCall], dict[str, str]]:
    """``calls`` without the optional figures nobody stated and the optional filters the user
    (``said``) never gave, with the user's ``limits`` (`limits_in`) at their end of each range
    and ``times`` (`time_limits`) in the parameter of their kind, the counts the ``results`` read
    from the user's words (`AsAsked`) in place, a search's filters of fixed choices that the user
    named and the model left out (`said_filters`), and a note per call saying what changed (told
    to the model with the result)."""
    out, notes = [], {}
    said_numbers = known_numbers(said)
    measured = measured_only("\n".join(said))
    for c in calls:
        t = registry.get(c.name)
        if t is None:
            out.append(c)
            continue
        args, dropped = ground_arguments(
            c.arguments,
            t.parameters,
            known,
            measured,
            said_numbers if t.risk == "read" else None,  # a search's filters are the user's
            {n for n, p in t.provenance.items() if isinstance(p, FromUser)},
        )
        args, unsaid = unsaid_filters(args, t.parameters, t.provenance, said)
        dropped += unsaid
        args, moved = orient_limits(args, t.parameters, limits or {})
        args, timed = orient_times(args, t.parameters, times or {})
        args, asked = asked_values(args, t.provenance, results)
        filled: list[str] = []
        if t.risk == "read":  # a search's filters; a write's choices stay the model's to make
            args, filled = said_filters(args, t.parameters, t.provenance, said)
        changes = [
            *(f"{d} is dropped (the user did not give it)" for d in dropped),
            *moved,
            *timed,
            *asked,
            *filled,
        ]
        if changes:
            notes[c.id] = "; ".join(changes)
            c = c.model_copy(update={"arguments": args})
        out.append(c)
    return out, notes
