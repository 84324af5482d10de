"""Grading: each check of a task becomes a `CheckResult` that says what was expected and what was found.

The answer checks read text; the state checks read the attempt's database after the run.
A failed check's ``detail`` is what a person needs to see why (the count found, the
balance change, the tool that should not have been called).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.orm import Session

from errand.agent.grounding import numbers_in
from errand.db.engine import Base
from errand.db.metadata import import_all_models
from errand.eval.tasks import AnswerFact, BalanceCheck, RowCheck
from errand.services.wallet import ledger
from errand.services.wallet.models import LedgerTransaction


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict."""

    name: str
    """What was checked, in words."""
    ok: bool
    detail: str = ""
    """What was found, when it matters (always for failures)."""


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _mentions(text: str, words: str) -> bool:
    return _norm(words) in _norm(text)


def answer_check(fact: AnswerFact, answers: list[str]) -> CheckResult:
    """Whether the answers (all of them, in a multi-turn task) state ``fact``."""
    text = "\n".join(answers)
    if fact.asks:
        ok = any("?" in a or "？" in a for a in answers)
        return CheckResult("answer asks the user a question", ok, "" if ok else "no answer contains '?'")
    if fact.number is not None:
        found = [v for _, v in numbers_in(text)]
        ok = any(abs(v - fact.number) <= fact.tolerance for v in found)
        name = f"answer states {fact.number:g}" + (f" ±{fact.tolerance:g}" if fact.tolerance > 0.01 else "")
        shown = ", ".join(f"{v:g}" for v in found[:12]) or "none"
        return CheckResult(name, ok, "" if ok else f"numbers in the answer: {shown}")
    if fact.any is not None:
        ok = any(_mentions(text, w) for w in fact.any)
        return CheckResult(f"answer says one of {fact.any}", ok, "" if ok else "none of them appears")
    words = fact.text or fact.name or fact.id or ""
    ok = _mentions(text, words)
    return CheckResult(f"answer states {fact.kind} {words!r}", ok, "" if ok else "not in the answer")


def grounded_check(fact: AnswerFact, results: list[str], request: str) -> CheckResult | None:
    """For replays: a fact a check expects (id, name, number) must appear in a tool result.

    This keeps checks honest: a fact typed into a task by hand, not read from the seeded
    data, fails the replay even when the reference answer repeats it."""
    if fact.kind not in ("id", "name", "number") or fact.computed:
        return None
    text = "\n".join(results)
    if fact.number is not None:
        known = [v for _, v in numbers_in(text)] + [v for _, v in numbers_in(request)]
        ok = any(abs(v - fact.number) <= fact.tolerance for v in known)
        return CheckResult(
            f"{fact.number:g} comes from a tool result", ok, "" if ok else "no tool returned it"
        )
    words = fact.id or fact.name or ""
    ok = _mentions(text, words) or _mentions(request, words)
    return CheckResult(f"{words!r} comes from a tool result", ok, "" if ok else "no tool returned it")


def calls_check(forbidden: Iterable[str], called: list[str]) -> list[CheckResult]:
    """One result per tool that must not be called."""
    out = []
    for name in forbidden:
        n = called.count(name)
        out.append(CheckResult(f"{name} not called", n == 0, f"called {n} time(s)" if n else ""))
    return out


# ---- state checks on a services database ---------------------------------------------------------

_OPS = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: c != v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
    "in": lambda c, v: c.in_(v),
    "like": lambda c, v: c.like(v),
}


def table(name: str) -> Table:
    """The services table called ``name``, or a `KeyError` listing the real ones."""
    import_all_models()
    found = Base.metadata.tables.get(name)
    if found is None:
        raise KeyError(f"no table {name!r}; tables: {', '.join(sorted(Base.metadata.tables))}")
    return found


def coerce(t: Table, column: str, value: Any) -> Any:
    """YAML gives dates as strings or dates; a Date column wants a `date` (SQLite is strict)."""
    if isinstance(value, list):
        return [coerce(t, column, v) for v in value]
    try:
        py = t.c[column].type.python_type
    except NotImplementedError:  # pragma: no cover - every services column has a python type
        return value
    if py is date and isinstance(value, str):
        return date.fromisoformat(value)
    if py is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if py is datetime and isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, datetime.min.time())
    return value


def conditions(t: Table, where: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """SQL conditions from a check's or patch's ``where``."""
    out = []
    for column, want in where.items():
        if column not in t.c:
            raise KeyError(f"table {t.name} has no column {column!r}; columns: {', '.join(t.c.keys())}")
        col = t.c[column]
        if isinstance(want, dict):
            for op, value in want.items():
                if op not in _OPS:
                    raise KeyError(f"unknown operator {op!r} on {t.name}.{column}; use {', '.join(_OPS)}")
                out.append(_OPS[op](col, coerce(t, column, value)))
        else:
            out.append(col == coerce(t, column, want))
    return out


def max_id(session: Session, name: str) -> int:
    """Highest ``id`` in a table (0 when empty): rows above it are new."""
    return int(session.scalar(select(func.coalesce(func.max(table(name).c.id), 0))) or 0)


def row_check(session: Session, check: RowCheck, since: int | None) -> CheckResult:
    """Count matching rows (only rows with ``id > since`` when ``since`` is given)."""
    t = table(check.table)
    conds = conditions(t, check.where)
    if since is not None:
        conds.append(t.c.id > since)
    n = int(session.scalar(select(func.count()).select_from(t).where(*conds)) or 0)
    where = ", ".join(f"{k}={v}" for k, v in check.where.items()) or "any"
    scope = "new " if check.new else ""
    if check.count is not None:
        ok = n == check.count
        name = f"{check.count} {scope}row(s) in {check.table} where {where}"
    else:
        assert check.min_count is not None
        ok = n >= check.min_count
        name = f"at least {check.min_count} {scope}row(s) in {check.table} where {where}"
    return CheckResult(name, ok, "" if ok else f"found {n}")


def balance_check(session: Session, check: BalanceCheck, user: str, before: int) -> CheckResult:
    """A balance (minor units read, whole units compared) against its change or its value."""
    cur = check.currency.upper()
    after = ledger.balance(session, user, cur)
    if check.change is not None:
        want = ledger.to_minor(str(check.change), cur)
        ok = after - before == want
        name = f"{user}'s {cur} balance changes by {check.change}"
        got = ledger.money_text(after - before, cur)
    else:
        assert check.equals is not None
        want = ledger.to_minor(str(check.equals), cur)
        ok = after == want
        name = f"{user}'s {cur} balance is {check.equals}"
        got = ledger.money_text(after, cur)
    return CheckResult(name, ok, "" if ok else f"got {got}")


def transaction_count(session: Session) -> int:
    """Ledger transactions recorded so far (payments, refunds, top-ups of every user)."""
    return int(session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)


def money_check(session: Session, moved: bool, before: int) -> CheckResult:
    """Whether any money moved during the attempt, against what the task allows."""
    n = transaction_count(session) - before
    ok = (n > 0) == moved
    name = "money moved" if moved else "no money moved"
    return CheckResult(name, ok, "" if ok else f"{n} new ledger transaction(s)")


def ledger_check(session: Session) -> CheckResult:
    """The wallet's double-entry ledger is still sound (always checked on the built-in services)."""
    problems = ledger.ledger_problems(session)
    return CheckResult("ledger is sound", not problems, "; ".join(problems[:3]))


def minor(amount: Decimal, currency: str) -> int:
    """Whole units to minor units, exactly."""
    return ledger.to_minor(str(amount), currency.upper())
