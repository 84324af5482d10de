"""Turn what a tool returned into what the model sees and what people see."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from errand.tools.provenance import id_forms, ids_in_text, named_ids

MAX_OBSERVATION_CHARS = 6000
"""Longer results are cut: small models lose the thread in long observations anyway."""

MAX_SUMMARY_CHARS = 120
"""A tool card's line: longer ones stop at the last whole fact that fits."""

_COUNT_KEYS = ("matches", "count", "total")
"""How many were found, where a result says so (``total`` with a ``total_text`` twin is money)."""
_RANKED_KEYS = ("top", "ranked", "results", "options", "products")
"""Lists whose first row is the one a result puts first."""
_ECHO_KEYS = frozenset({"city", "date", "class", "currency", "unit", "area", "user", "from", "to"})
"""What a result repeats from its query: the user knows it already."""
_MONEY = re.compile(r"-?\d[\d,]*(?:\.\d+)?[KMB]? [A-Z]{3}\b")
"""An amount written out: ``154.00 CNY``, ``5.23M CNY``."""
_MOMENT = re.compile(r"\b(\d{4}-\d\d-\d\d)T(\d\d):(\d\d)(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)(?![\d(])")
"""A moment with its offset, as outside tools write it: ``2026-12-08T02:39:00+09:00``."""


def observation(value: Any) -> str:
    """Compact JSON (or the text itself) for the model, cut to a safe length; ``value`` is plain data."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = _MOMENT.sub(_read_moment, text)
    if len(text) > MAX_OBSERVATION_CHARS:
        text = text[:MAX_OBSERVATION_CHARS] + "…[cut; ask for fewer results]"
    return text


def _read_moment(m: re.Match[str]) -> str:
    """A moment followed by how people say it: a small model read ``2026-12-08T02:39:00+09:00``
    as "2:39 PM", or answered with the other moment of a conversion, the one at its own clock."""
    try:
        day = date.fromisoformat(m.group(1))
    except ValueError:
        return m.group(0)
    hour, minute = int(m.group(2)), m.group(3)
    said = f"{(hour % 12) or 12}:{minute} {'AM' if hour < 12 else 'PM'}"
    return f"{m.group(0)} ({day:%A} {day.day} {day:%B %Y}, {hour:02d}:{minute}, {said})"


def found_nothing(value: Any) -> bool:
    """Whether a result is a search that matched nothing (``"matches": 0``, as every built-in
    search says it): like an error, the question was likely wrong, not the answer "none"."""
    return isinstance(value, dict) and value.get("matches") == 0


def ruled_out(value: Any) -> list[str]:
    """What a search that found nothing says the user's own limits ruled out (``"ruled_out"``:
    "Dan dan noodles 担担面: contains peanut" for a peanut allergy): the service's answer to an
    errand that cannot be done as asked, as a refused write's error is."""
    if not found_nothing(value):
        return []
    return [str(r) for r in value.get("ruled_out") or [] if str(r).strip()]


_NAME_KEYS = ("name", "title", "restaurant", "product", "hotel")
"""Keys (and their ``_zh`` twins) under which a record gives what people call it."""


def records_in(value: Any) -> list[dict[str, Any]]:
    """The records a result is about: itself, where it has an id of its own (a product, with
    its variants as its parts); else those it lists or names at its top level (restaurants,
    payments, the ``best`` one)."""
    if isinstance(value, dict):
        if record_id(value) is not None:
            return [value]
        found: list[dict[str, Any]] = []
        for v in value.values():
            rows = v if isinstance(v, list) else [v]
            found += [r for r in rows if isinstance(r, dict) and record_id(r) is not None]
        return found
    if isinstance(value, list):
        return [r for r in value if isinstance(r, dict) and record_id(r) is not None]
    return []


def record_ids(record: dict[str, Any]) -> set[str]:
    """Every id a record states, in capitals, with the forms people shorten it to (``G7`` of
    ``G7-20261201-second``): its own ids and those its text names (a payment's memo ``FO-000003``)."""
    found: set[str] = set()
    for k, v in record.items():
        if isinstance(v, str):
            found |= {v} if _is_id(k, v) else set(ids_in_text(v)) & set(named_ids(v))
    return {f for f in id_forms(found) if ids_in_text(f) == {f}}


def count_of(result: Any) -> int | None:
    """How many a lookup says it found (``"matches": 177``), where it says so."""
    if not isinstance(result, dict):
        return None
    return next((int(result[k]) for k in _COUNT_KEYS if _is_count(result, k)), None)


def names_a_record(answer: str, records: list[dict[str, Any]]) -> bool:
    """Whether ``answer`` says which of ``records`` it is about: by one of its ids, or by its
    name (the English or the Chinese part of "Riverside Cantonese Bistro 粤菜")."""
    text = answer.casefold()
    said = id_forms(ids_in_text(answer))
    for r in records:
        if record_ids(r) & said:
            return True
        for k, v in r.items():
            if k.startswith(_NAME_KEYS) and isinstance(v, str):
                parts = (p.strip() for p in re.findall(r"[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+", v))
                # at least a word: "Riverside", 川菜馆; not the cuisine 粤菜 every answer says
                if any(len(p) >= (3 if p[0] >= "\u4e00" else 4) and p.casefold() in text for p in parts if p):
                    return True
    return False


def leaves(value: Any) -> Iterator[Any]:
    """The scalars of plain JSON data (a tool's result), depth first."""
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def quotes(answer: str, result: Any, heard: Sequence[str] = ()) -> bool:
    """Whether ``answer`` repeats a text of ``result`` (a name, a district, a time zone): a
    whole value, or its English or Chinese part, at least a word long (4 letters, 2 Han). Not
    one the user said (``heard``): "Shenzhen", echoed from the request, reports nothing found."""
    text = answer.casefold()
    said = " ".join(heard).casefold()
    for value in leaves(result):
        if not isinstance(value, str):
            continue
        for part in re.findall(r"[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+", value):
            part = part.strip().casefold()
            if part and len(part) >= (2 if part[0] >= "\u4e00" else 4) and part in text and part not in said:
                return True
    return False


def earlier_result(text: str) -> Any:
    """The data an earlier turn's tool message shows (its JSON, without errand's notes around
    it), or its text: what a chat's next message may take ids from. The data is the first
    object or list that parses: a note of a changed call (``[errand changed this call: ...]``)
    may come before it."""
    decoder = json.JSONDecoder()
    for opening in re.finditer(r"[\[{]", text):
        try:
            return decoder.raw_decode(text, opening.start())[0]
        except ValueError:
            continue
    return text


def summarize(value: Any) -> str:
    """One line for people (a tool card): the gist of a result, already plain JSON data.

    A result that carries its own ``summary`` says it. Otherwise: how many were found, then
    the records the result names, each with its amount ("12 found, top HZ-00446 at 5.23M CNY,
    cheapest HZ-00475 at 4.56M CNY"); for one record, its id, status and amounts ("BK-000001
    confirmed, total 825.00 CNY"). Read from keys, never from tool names; the query's echo
    (city, date, ...) is left out. The model's view is `observation`, untouched by this.
    """
    if isinstance(value, dict):
        if isinstance(value.get("summary"), str):
            return str(value["summary"])
        return _line(_facts(value)) or "done"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return _line(_facts({"results": value})) or "done"
        return f"{len(value)} items"
    return _line([" ".join(str(value).split())]) or "done"


def _facts(result: dict[str, Any]) -> list[str]:
    """What a result says, most telling first."""
    lists = [v for v in result.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
    found = [rows for rows in lists if record_id(rows[0]) is not None]
    parts = [rows for rows in lists if record_id(rows[0]) is None]
    ranked = next((result[k] for k in _RANKED_KEYS if any(result.get(k) is rows for rows in found)), None)
    own = record_id(result)
    facts: list[str] = []

    count = next((result[k] for k in _COUNT_KEYS if _is_count(result, k)), None)
    if count is None and own is None and found:  # a record's own lists (its items) are parts, not finds
        count = len(ranked or found[0])
    if count is not None:
        facts.append(f"{count} found")

    # The rows the result names: its first, and its picks (``cheapest``, ``best_*``) by id or whole.
    named: list[tuple[list[str], dict[str, Any]]] = [(["top"], ranked[0])] if ranked else []
    for key, pick in result.items():
        if key != "cheapest" and not key.startswith("best_"):
            continue
        row = pick if isinstance(pick, dict) else _row_named(found, pick)
        if row is None or record_id(row) is None:
            continue
        label = key.replace("_", " ")
        same = next((labels for labels, r in named if record_id(r) == record_id(row)), None)
        if same == ["top"]:
            same[:] = [label]
        elif same is not None:
            same.append(label)
        else:
            named.append(([label], row))
    facts += [f"{' and '.join(labels)} {_row(row)}" for labels, row in named]

    amounts = _amounts(result)
    if not amounts and count is None:  # parts without ids: a balance per currency
        amounts = [a for rows in parts for row in rows for a in _amounts(row, money=False)]
    said: dict[str, str] = {}  # an amount once, under its first label (total, then paid)
    for label, amount in amounts:
        said.setdefault(amount, label)
    amounts = [(label, amount) for amount, label in said.items()]
    if own is not None:
        status = result.get("status")
        name = result.get("name")
        if isinstance(status, str) and status:
            facts.append(f"{own} {status}")
        elif isinstance(name, str) and name and not amounts:
            facts.append(f"{own} {name}")
        else:
            facts.append(own)
    facts += [f"{label} {amount}" for label, amount in amounts[:2]]

    if len(facts) <= (count is not None):  # nothing named: the result's own short figures
        facts += _scalars(result, numbers=count is None)[:3]
    if not facts:  # lists of something else, said by size (``repos: 3 items``)
        facts = [f"{k}: {len(v)} items" for k, v in result.items() if isinstance(v, list)][:2]
    return facts


def _is_count(result: dict[str, Any], key: str) -> bool:
    value = result.get(key)
    return isinstance(value, int) and not isinstance(value, bool) and f"{key}_text" not in result


def record_id(record: dict[str, Any]) -> str | None:
    """A record's own id: its first ``id`` or ``*_id`` text."""
    return next((v for k, v in record.items() if _is_id(k, v)), None)


def _is_id(key: str, value: Any) -> bool:
    return (key == "id" or key.endswith("_id")) and isinstance(value, str) and bool(value)


def _row_named(lists: list[list[dict[str, Any]]], ref: Any) -> dict[str, Any] | None:
    """The row that ``ref`` names by any of its ids (a hotel named by ``hotel_id``, shown by
    ``option_id``); a bare id where no row has it."""
    if not isinstance(ref, str) or not ref:
        return None
    for rows in lists:
        for row in rows:
            if any(_is_id(k, v) and v == ref for k, v in row.items()):
                return row
    return {"id": ref}


def _row(row: dict[str, Any]) -> str:
    """A row as its id and amount (``HZ-00446 at 5.23M CNY``), else its id and name."""
    amount = next((v for k, v in row.items() if k.endswith("_text") and isinstance(v, str) and v), None)
    if amount:
        return f"{record_id(row)} at {amount}"
    name = row.get("name")
    return f"{record_id(row)} ({name})" if isinstance(name, str) and name else str(record_id(row))


def _amounts(record: dict[str, Any], *, money: bool = True) -> list[tuple[str, str]]:
    """Amounts labelled by their keys: ``*_text`` ones (``total_text`` is the total), else, where
    ``money``, amounts written out under plain keys (``refunded: 154.00 CNY``)."""
    texts = [(k[:-5], v) for k, v in record.items() if k.endswith("_text") and isinstance(v, str) and v]
    if not texts and money:
        texts = [(k, v) for k, v in record.items() if isinstance(v, str) and _MONEY.fullmatch(v)]
    return [(k.replace("_", " "), v) for k, v in texts if k not in _ECHO_KEYS]


def _scalars(result: dict[str, Any], *, numbers: bool) -> list[str]:
    """Short texts and (where ``numbers``) figures, the query's echo and ids left out."""
    out = []
    for key, value in result.items():
        if key in _ECHO_KEYS or _is_id(key, value) or isinstance(value, bool):
            continue
        label = key.removesuffix("_pct").replace("_", " ")
        unit = "%" if key.endswith("_pct") else ""
        if isinstance(value, str) and value and len(value) <= 60:
            out.append(f"{label} {value}")
        elif numbers and isinstance(value, int | float):
            out.append(f"{label} {value}{unit}")
    return out


def _line(facts: list[str]) -> str:
    """Facts joined while they fit; a first fact too long on its own is cut."""
    line = ""
    for fact in facts:
        joined = f"{line}, {fact}" if line else fact
        if len(joined) > MAX_SUMMARY_CHARS:
            break
        line = joined
    if not line and facts and facts[0]:
        line = facts[0][: MAX_SUMMARY_CHARS - 1] + "…"
    return line


def references(result: Any, arguments: dict[str, Any]) -> list[str]:
    """The reference of the record a write created: its result's first top-level ``*_id``
    string that was not an argument (``BK-000012`` from a booking; a cancellation, which
    echoes the id it was given, creates none)."""
    if not isinstance(result, dict):
        return []
    given = {str(v) for v in arguments.values()}
    for key, value in result.items():
        if key.endswith("_id") and isinstance(value, str) and value and value not in given:
            return [value]
    return []
