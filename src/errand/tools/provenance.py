"""Where a tool argument's value may come from, declared on the parameter.

A small model asked to book makes up an id ("FL-12345") or a passenger ("John Doe"), and
a value that appears only inside a tool result (a name in a listing's title) must never
be enough to start a write. The tool says what each such parameter is; the agent reads it
generically: ids are constrained at decode time to the ids the request and the results
contain, and people's names and addresses must be in the user's own words.

```python
def book_train(
    train_id: Annotated[str, FromResults("option_id", "train")],
    passengers: Annotated[list[str], FromUser("the travellers' names")],
) -> dict: ...
```
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FromResults:
    """The value is an identifier that a tool result returned under one of ``keys`` (or that
    the user typed). Anything else is an invented id."""

    keys: tuple[str, ...]
    shape: str | None = None
    """A regular expression every such id matches whole (``[A-Z]{2}-\\d{5}`` for a listing), when
    the service issues ids of one shape: a request that names one is about this tool's service."""
    typed: bool = True
    """Whether a user may type such an id. False for ids only a result shows (a dish's number on
    a menu): then no token of the request counts, and the "88" of "88 Wensan Road" is no dish."""

    def __init__(self, *keys: str, shape: str | None = None, typed: bool = True) -> None:
        object.__setattr__(self, "keys", tuple(keys) or ("id",))
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "typed", typed)

    def fits(self, value: str) -> bool:
        """Whether ``value`` has the shape of this parameter's ids (case aside)."""
        return self.shape is not None and re.fullmatch(self.shape, value.strip(), re.IGNORECASE) is not None

    def found_in(self, result: Any) -> set[str]:
        """The values under this parameter's keys in a tool result, of its ids' shape where it
        declares one: a wallet's payment is ``{"id": "PAY-001518"}``, and ``id`` is also a key
        of ``cancel_booking``'s booking ids (dev wl-u-dup-food-multiturn cancelled "booking"
        PAY-001518, which the service turned down)."""
        found = ids_in_result(result, self.keys)
        return found if self.shape is None else {i for i in found if self.fits(i)}


@dataclass(frozen=True)
class FromUser:
    """The value is in the user's own words (people's names, an address): never taken from a
    tool result, never made up."""

    what: str = "this value"
    """What the user must say, for the question the agent asks instead ("the travellers' names")."""
    said_as: Callable[[Any], Iterable[str]] | None = None
    """The words a user may say for a value, where the tool takes a value of its own vocabulary
    (``sichuan`` for 川菜, ``peanut`` for "nuts", ``True`` for "vegan", a spice level for "mild"):
    the service's own word tables. A value said in none of them, nor as itself, is not the
    user's. Without it, only a string said as itself counts (a name, an address)."""

    def said_in(self, value: Any, user_texts: Iterable[str]) -> bool:
        """Whether the user said ``value`` (in ``user_texts``), as itself or in one of its words."""
        if self.said_as is None:  # a number or a flag: nothing to check it against
            return said_by_user(value, user_texts) if isinstance(value, str) else True
        own = [value] if isinstance(value, str) else []
        return says_any([*own, *self.said_as(value)], user_texts)


def said_from(table: Mapping[str, Sequence[str]]) -> Callable[[Any], tuple[str, ...]]:
    """A `FromUser.said_as` for a value of a fixed vocabulary: the value itself (its code in
    capitals too) and the words ``table`` lists for it."""

    def said(value: Any) -> tuple[str, ...]:
        text = str(value).strip()
        return (text, *table.get(text, table.get(text.upper(), ())))

    return said


@dataclass(frozen=True)
class AsAsked:
    """The value is what a tool result read from the user's words for the same record, where one
    did: an order line's ``quantity`` is the ``quantity_asked`` the menu gave for the dish whose
    ``item_id`` the line names. Copying two dishes into an order, a small model swaps their counts
    ("白切鸡一份、烧卖两份" ordered as one 烧卖 and two 白切鸡)."""

    key: str
    """The result field holding the value the user asked for (``quantity_asked``)."""
    row: str
    """The field, beside this one and in the result's row, that names the record (``item_id``)."""


Provenance = FromResults | FromUser | AsAsked


_ID_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\d[A-Za-z0-9_-]*|[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*[A-Za-z]")
"""A token of the user's text that may be an identifier: letters, digits and dashes with a digit."""


_QUANTITY = re.compile(r"\d+(?:[.,]\d+)*-?[A-Za-z]+")
"""A number with its unit or noun (``3-bedroom``, ``500m``, ``2br``, ``7th``): a quantity, not an id."""


def ids_in_text(text: str) -> set[str]:
    """Tokens of the user's text that may be ids (``BK-000001``, ``sz-r023``, ``G16``)."""
    return {m.group(0) for m in _ID_TOKEN.finditer(text) if not _QUANTITY.fullmatch(m.group(0))}


_NAMED_ID = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![A-Za-z0-9_-])")


def named_ids(text: str) -> set[str]:
    """Identifiers written in ``text``: tokens that start with a letter and hold at least two
    digits (``HZ-00042``, ``G16``, ``BK-000001``, ``H-SY04``), so that words, dates, amounts
    and units (``3-bedroom``, ``2026-12-06``, ``m2``) are not taken for ids."""
    return {m.group(0) for m in _NAMED_ID.finditer(text) if sum(c.isdigit() for c in m.group(0)) >= 2}


def id_forms(ids: Iterable[str]) -> set[str]:
    """Each id in capitals, with its leading parts (``G16-20270320-second`` also gives ``G16``
    and ``G16-20270320``): the forms an answer may fairly use for it."""
    forms: set[str] = set()
    for i in ids:
        parts = i.upper().split("-")
        forms |= {"-".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return forms


def ids_in_result(value: Any, keys: Iterable[str]) -> set[str]:
    """String (or integer) values stored under any of ``keys`` anywhere in a tool result."""
    wanted = set(keys)
    return {
        str(item)
        for node in _nodes(value)
        if isinstance(node, Mapping)
        for k, v in node.items()
        if k in wanted
        for item in (v if isinstance(v, list) else [v])
        if isinstance(item, str | int) and not isinstance(item, bool)
    }


def values_at(arguments: Mapping[str, Any], path: str) -> list[Any]:
    """The values a provenance key names: a parameter (``listing_id``, each of a list), or a field
    of the objects a parameter holds (``items.item_id``: each dish's item id)."""
    name, _, rest = path.partition(".")
    value = arguments.get(name)
    found = value if isinstance(value, list) else [value]
    if rest:
        return [v for item in found if isinstance(item, Mapping) for v in values_at(item, rest)]
    return [v for v in found if v is not None]


def subject_ids(arguments: Mapping[str, Any], provenance: Mapping[str, Provenance]) -> list[str]:
    """The identifiers (``SZ-00250``) a call was about: its `FromResults` arguments that look
    like ids (not a menu line's number), in argument order."""
    out: list[str] = []
    for name, source in provenance.items():
        if not isinstance(source, FromResults):
            continue
        for v in values_at(arguments, name):
            if isinstance(v, str) and named_ids(v) == {v.strip()} and v not in out:
                out.append(v)
    return out


@functools.lru_cache(maxsize=512)
def _norm(text: str) -> str:
    """Width, case and spacing aside; cached, as every filter of a step reads the same user texts."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", text).strip()


def _pieces(value: str) -> list[str]:
    """The words of a value (Latin words and runs of CJK characters), for a lenient match."""
    return re.findall(r"[^\W_]+", _norm(value))


def said_by_user(value: str, user_texts: Iterable[str]) -> bool:
    """Whether ``value`` is in the user's words: verbatim, or every word of it appears
    ("12 Keyuan Rd, Nanshan" for "deliver to 12 keyuan rd nanshan")."""
    texts = [_norm(t) for t in user_texts]
    norm = _norm(value)
    if not norm:
        return False
    if any(norm in t for t in texts):
        return True
    words = _pieces(value)
    return bool(words) and any(all(w in t for w in words) for t in texts)


def _word_pattern(word: str) -> str:
    """A Latin word matches whole (with a plural ending), so that "nut" is not the one in
    "minutes", even beside Chinese ("要vegan的"); a CJK word matches anywhere, as Chinese has
    no spaces."""
    w = re.escape(_norm(word))
    return rf"(?<![a-z0-9]){w}(?:s|es)?(?![a-z0-9])" if word.isascii() else w


def says_any(words: Iterable[str], user_texts: Iterable[str]) -> bool:
    """Whether any of ``words`` is in the user's texts (case and width aside)."""
    patterns = [_word_pattern(w) for w in words if w.strip()]
    if not patterns:
        return False
    found = re.compile("|".join(patterns))
    return any(found.search(_norm(t)) for t in user_texts)


def asked_values(
    arguments: Mapping[str, Any], provenance: Mapping[str, Provenance], results: Sequence[Any]
) -> tuple[dict[str, Any], list[str]]:
    """``arguments`` with each `AsAsked` field set to the value a result gave for its record
    (``items[1].quantity=2 is set to 1``), and what was changed."""
    out = dict(arguments)
    changes: list[str] = []
    for path, source in provenance.items():
        name, _, field = path.partition(".")
        if not isinstance(source, AsAsked) or not field or name not in arguments:
            continue
        value = arguments[name]
        objects = value if isinstance(value, list) else [value]
        fixed = []
        for n, obj in enumerate(objects):
            asked = _asked_for(obj.get(source.row), source, results) if isinstance(obj, Mapping) else None
            if asked is not None and isinstance(obj, Mapping) and obj.get(field) != asked:
                where = f"{name}[{n}]" if isinstance(value, list) else name
                changes.append(f"{where}.{field}={obj.get(field)} is set to {asked}, as the user asked")
                obj = {**obj, field: asked}
            fixed.append(obj)
        out[name] = fixed if isinstance(value, list) else fixed[0]
    return out, changes


def _asked_for(record: Any, source: AsAsked, results: Sequence[Any]) -> Any:
    """The value under ``source.key`` in the latest result row whose ``source.row`` is ``record``."""
    rows = [
        n
        for n in _nodes(results)
        if isinstance(n, Mapping) and source.key in n and str(n.get(source.row)) == str(record)
    ]
    return rows[-1][source.key] if record is not None and rows else None


def _nodes(value: Any) -> Iterator[Any]:
    """Every dict and list inside ``value`` (results, plain JSON data), outer first, in order."""
    if isinstance(value, Mapping):
        yield value
        for v in value.values():
            yield from _nodes(v)
    elif isinstance(value, list | tuple):
        yield value
        for v in value:
            yield from _nodes(v)


def _beyond_call(
    arguments: Mapping[str, Any], provenance: Mapping[str, Provenance], user_texts: Sequence[str]
) -> list[str]:
    """The user's texts without the words of the call's own `FromUser` arguments ("deliver to
    ..., Jing'an" is no wish for a row in Jing'an)."""
    own_words = [
        str(v)
        for path, source in provenance.items()
        if isinstance(source, FromUser)
        for v in values_at(arguments, path)
    ]
    return [_without(t, own_words) for t in user_texts]


def _picked_rows(
    arguments: Mapping[str, Any], provenance: Mapping[str, Provenance], results: Sequence[Any]
) -> Iterator[tuple[FromResults, Any, list[dict[str, Any]], dict[str, Any]]]:
    """(source, value, rows, chosen) for each `FromResults` argument value and each result list
    holding a row with it: the list a write picked its row from, and that row."""
    for path, source in provenance.items():
        if not isinstance(source, FromResults):
            continue
        for value in values_at(arguments, path):
            for rows in _lists_holding(results, source.keys, str(value)):
                chosen = next(r for r in rows if any(str(r.get(k)) == str(value) for k in source.keys))
                yield source, value, rows, chosen


def not_as_asked(
    arguments: Mapping[str, Any],
    provenance: Mapping[str, Provenance],
    results: Sequence[Any],
    user_texts: Sequence[str],
) -> list[str]:
    """Where a `FromResults` argument picks a result row whose text field the user contradicted:
    the user said another row's value of that field and not this row's ("size 38, grey" bought
    as the white one, grey being sold out; "first class" booked in second). One line per such
    field (``V-000766 has color 'White', not 'Grey'``), read from the results' own rows, so it
    holds for every tool and field in any language the results are written in. The words of
    the call's own `FromUser` arguments say nothing about the row ("deliver to ..., Jing'an"
    is no wish for a restaurant in Jing'an). Then, where the user's words fit one other row of
    that list, a line naming it with its own fields (`_asked_rows`): the refusal says why that
    one is not to be had (``stock 0, availability sold out``) in the service's words."""
    user_texts = _beyond_call(arguments, provenance, user_texts)
    out: list[str] = []
    for source, value, rows, chosen in _picked_rows(arguments, provenance, results):
        before = len(out)
        for field, own in chosen.items():
            if not isinstance(own, str) or field in source.keys or field == "id" or field.endswith("_id"):
                continue
            others = {r[field] for r in rows if isinstance(r.get(field), str) and r[field] != own}
            said = sorted(o for o in others if _telling(o) and _says_value(o, user_texts))
            if said and not _says_value(own, user_texts):
                line = f"{value} has {field} {own!r}, not {said[0]!r}"
                if line not in out:
                    out.append(line)
        asked, wished = _asked_rows(rows, user_texts)
        extra = set(asked[0]) - set(source.keys) - wished if len(asked) == 1 else set()
        if len(out) > before and extra and asked[0] is not chosen:
            line = f"the user asked for {_shown(asked[0], source.keys)}"
            if line not in out:
                out.append(line)
        elif len(out) > before and 1 < len(asked) <= MOST_FITTING and chosen not in asked:
            fields = [f for f in asked[0] if _short(asked, f)]
            line = FITTING + "; ".join(_shown(r, source.keys, fields) for r in asked)
            if line not in out:
                out.append(line)
    return out


FITTING = "these fit what the user said: "
"""The start of `not_as_asked`'s line naming the rows that fit: for the model to choose from,
not for the user's `Not done:` footer (a Chinese answer's footer turned English with it)."""

MOST_FITTING = 3
"""The most rows a refusal names as fitting what the user said (dev sh-u-exchange-bigger-powerbank-zh:
"20000毫安, 颜色不变" fits the white and the black 20000 mAh; told neither, the 1.5B asked the
user whether to exchange at all). More than this, and the user's words did not pick out a few."""


def several_named(
    arguments: Mapping[str, Any],
    provenance: Mapping[str, Provenance],
    results: Sequence[Any],
    user_texts: Sequence[str],
) -> list[str]:
    """Where a `FromResults` argument picks a result row by the name the user gave, and other
    rows of that list have the same name: the choice between them is a guess, and the user is
    to be asked which (dev fd-ambiguous-restaurant: two "Golden Beijing House 京味" in Hangzhou,
    the first ordered from). One line per such choice, naming every such row by the short
    fields that tell them apart;
    none where the user's other words tell the rows apart (a district they named)."""
    user_texts = _beyond_call(arguments, provenance, user_texts)
    out: list[str] = []
    for source, _value, rows, chosen in _picked_rows(arguments, provenance, results):
        name = chosen.get("name")
        if not isinstance(name, str) or not _says_name(name, user_texts):
            continue
        asked, _ = _asked_rows(rows, user_texts)
        same = [r for r in asked if r.get("name") == name]
        if len(same) > 1 and chosen in same:
            differ = [f for f in same[0] if len({str(r.get(f)) for r in same}) > 1 and _short(same, f)]
            line = f"{len(same)} results are named {name!r}: " + "; ".join(
                _shown(r, source.keys, differ) for r in same
            )
            if line not in out:
                out.append(line)
    return out


def _says_name(name: str, user_texts: Sequence[str]) -> bool:
    """Whether the user said ``name``, or its English or Chinese part ("Golden Beijing House"
    for "Golden Beijing House 京味"), at least a word long."""
    parts = [p.strip() for p in re.findall(r"[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+", name)]
    return says_any([p for p in parts if len(p) >= (2 if p[0] >= "\u4e00" else 4)] or [name], user_texts)


def _shown(row: Mapping[str, Any], keys: Sequence[str], fields: Sequence[str] | None = None) -> str:
    """A row in words, its id first: ``V-2 (size 38, colour Grey, stock 0, availability sold out)``;
    only ``fields``, where given."""
    key = next((k for k in keys if k in row), None)
    rest = ", ".join(
        f"{f} {v}"
        for f, v in row.items()
        if f != key and not isinstance(v, dict | list) and (fields is None or f in fields)
    )
    return f"{row[key]} ({rest})" if key is not None else rest


def _short(rows: Sequence[Mapping[str, Any]], field: str) -> bool:
    """Whether ``field`` is a short fact in every row (a district, a rating), not prose such as
    a ``why``: what a question can tell rows apart by (the 1.5B asked with every field of both)."""
    return all(not isinstance(r.get(field), dict | list) and len(str(r.get(field))) <= 40 for r in rows)


def _asked_rows(
    rows: Sequence[dict[str, Any]], user_texts: Sequence[str]
) -> tuple[list[dict[str, Any]], set[str]]:
    """The rows whose every telling text field the user said, where they said one of that
    field's values ("grey, size 38": the grey size-38 row), and those fields: the row a refusal
    names, with its own figures (its stock of 0, its sold-out mark), so the user hears why it
    cannot be had."""
    fields = {
        f for r in rows for f, v in r.items() if isinstance(v, str) and f != "id" and not f.endswith("_id")
    }
    wished = {
        f: {
            r[f]
            for r in rows
            if isinstance(r.get(f), str)
            and _telling(r[f])
            and (_says_value(r[f], user_texts) or (f == "name" and _says_name(r[f], user_texts)))
        }
        for f in fields
    }
    wished = {f: vs for f, vs in wished.items() if vs}
    if not wished:
        return [], set()
    return [r for r in rows if all(r.get(f) in vs for f, vs in wished.items())], set(wished)


def _without(text: str, parts: Sequence[str]) -> str:
    """``text`` (normalised) without the words of ``parts`` (however the model spelled the
    whole: "Jing'an District" for "jing'an"): fewer words left can only find fewer wishes."""
    out = _norm(text)
    for word in {w for part in parts for w in _pieces(part)}:
        out = re.sub(_word_pattern(word), " ", out)
    return out


_MEASURE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[^\W\d_]+\.?\s*$")
"""A row's value that is a figure and its unit: "20000 mAh", "1.5 L", "128GB"."""


def _says_value(value: str, user_texts: Sequence[str]) -> bool:
    """Whether the user said a row's text value: as itself, or, for a figure with a unit, its
    figure standing alone in any unit (dev sh-u-exchange-bigger-powerbank-zh: "20000毫安" is
    the "20000 mAh" variant, and the exchange went to the "10000 mAh" one)."""
    if says_any([value], user_texts):
        return True
    measure = _MEASURE.match(value)
    if measure is None:
        return False
    figure = re.compile(rf"(?<![\d.]){re.escape(measure.group(1))}(?![\d]|\.\d)")
    return any(figure.search(_norm(t)) for t in user_texts)


def _telling(value: str) -> bool:
    """A value a user would say to pick a row: with a CJK character, or two letters or digits
    together (a shoe size "38", "XL"), not one alone (a size "S", which "Nike's" holds). A house
    number is no wish: the call's own address is left out of the user's words first."""
    return bool(re.search(r"[\u4e00-\u9fff]|[^\W_]{2}", value))


def _lists_holding(results: Sequence[Any], keys: Sequence[str], value: str) -> list[list[dict[str, Any]]]:
    """The lists of rows, anywhere in ``results``, in which a row holds ``value`` under one of ``keys``."""
    found: list[list[dict[str, Any]]] = []
    for node in (n for r in results for n in _nodes(r)):  # not the list of results itself
        if isinstance(node, list):
            rows = [r for r in node if isinstance(r, dict)]
            if len(rows) > 1 and any(str(r.get(k)) == value for r in rows for k in keys):
                found.append(rows)
    return found


def unsaid(
    arguments: Mapping[str, Any], provenance: Mapping[str, Provenance], user_texts: list[str]
) -> list[str]:
    """``FromUser`` values the user never said (one or a list per argument)."""
    out: list[str] = []
    for name, source in provenance.items():
        if not isinstance(source, FromUser):
            continue
        for v in values_at(arguments, name):
            if isinstance(v, str) and not source.said_in(v, user_texts):
                out.append(v)
    return out


def unknown_ids(
    arguments: Mapping[str, Any], provenance: Mapping[str, Provenance], known: set[str]
) -> list[str]:
    """``FromResults`` values that are not among ``known`` ids (compared case-insensitively)."""
    lowered = {k.casefold() for k in known}
    out: list[str] = []
    for name, source in provenance.items():
        if not isinstance(source, FromResults):
            continue
        for v in values_at(arguments, name):
            if str(v).casefold() not in lowered:
                out.append(f"{name}={v!r}")
    return out
