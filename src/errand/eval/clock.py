"""A frozen clock for evaluation: every attempt sees the same "now", whenever the suite runs.

Opening hours, refund rules, order status and spending limits all read the clock, so a
suite run at 03:00 or next month would grade differently. The services read time through
small module functions (``_now``, ``_today``) that their tests already replace; the eval
replaces the same functions for the length of a run. A thread may move its own clock
(`at`) to set up history ("this order was placed ten days ago") while other attempts,
in other threads, keep the suite's time.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
"""The services' cities keep UTC+8 (China Standard Time, Singapore)."""

EVAL_NOW = datetime(2026, 11, 29, 12, 0, tzinfo=CST)
"""When every built-in task happens: a Sunday at noon in Shanghai, two days before the timetable."""

_local = threading.local()
_lock = threading.Lock()
_depth = 0
_saved: list[tuple[object, str, object]] = []
_base: datetime = EVAL_NOW


def now() -> datetime:
    """The eval's current moment (time-zone aware): this thread's override, else the run's time."""
    override: datetime | None = getattr(_local, "now", None)
    return override if override is not None else _base


def _local_naive() -> datetime:
    return now().astimezone(CST).replace(tzinfo=None)


def _utc_naive() -> datetime:
    return now().astimezone(UTC).replace(tzinfo=None)


def _local_date() -> date:
    return now().astimezone(CST).date()


_HOOKS: tuple[tuple[str, str, Callable[[], object]], ...] = (
    ("errand.services.travel.common", "_now", _local_naive),
    ("errand.services.food.common", "_now", _local_naive),
    ("errand.services.shop.common", "_now", _utc_naive),
    ("errand.services.wallet.accounts", "_now", _utc_naive),
    ("errand.services.wallet.limits", "_today", _local_date),
    ("errand.services.realestate.viewings", "_today", _local_date),
)
"""Where each service reads the clock, and what it expects (travel and food: local time)."""


def today_text() -> str:
    """What the agent is told "now" is, in the same words it uses for the real clock."""
    t = now().astimezone(CST)
    return f"{t:%Y-%m-%d %H:%M}, {t:%A}, time zone Asia/Shanghai"


@contextmanager
def frozen(moment: datetime = EVAL_NOW) -> Iterator[None]:
    """Every service reads ``moment`` as now until the block ends (nested blocks share the first)."""
    global _depth, _base
    if moment.tzinfo is None:
        raise ValueError("the eval clock needs an aware datetime, e.g. 2026-11-29T12:00:00+08:00")
    with _lock:
        if _depth == 0:
            _base = moment
            for module_name, attr, fake in _HOOKS:
                module = importlib.import_module(module_name)
                if not hasattr(module, attr):  # a service renamed its clock: fail loudly, not flakily
                    raise RuntimeError(f"{module_name}.{attr} is gone; update errand.eval.clock._HOOKS")
                _saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, fake)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                while _saved:
                    owner, name, original = _saved.pop()
                    setattr(owner, name, original)
                _base = EVAL_NOW


@contextmanager
def at(moment: datetime | None) -> Iterator[None]:
    """This thread's clock reads ``moment`` inside the block (None: leave it as it is)."""
    if moment is None:
        yield
        return
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    previous = getattr(_local, "now", None)
    _local.now = moment
    try:
        yield
    finally:
        _local.now = previous
