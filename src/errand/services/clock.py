"""The services' time: the moment a tool's clock reads, seen where the services' cities are.

A tool reads the time only from its context (`ToolContext.now`: the real clock, unless the
eval or a test fixed it), and hands that moment on to whatever it calls (the wallet's
``at``); no service asks the system clock. Every city the services know keeps UTC+8 (China
Standard Time, Singapore): timetables, opening hours and "today" are read there. The tables
store times without a zone, local or UTC as each column says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

LOCAL = timezone(timedelta(hours=8), "Asia/Shanghai")
"""The zone of every city the services know (UTC+8)."""


def local_time(at: datetime) -> datetime:
    """``at`` as wall-clock time in the services' cities, without a zone."""
    return _aware(at).astimezone(LOCAL).replace(tzinfo=None)


def local_day(at: datetime) -> date:
    """The date in the services' cities at ``at``."""
    return _aware(at).astimezone(LOCAL).date()


def utc_time(at: datetime) -> datetime:
    """``at`` in UTC, without a zone."""
    return _aware(at).astimezone(UTC).replace(tzinfo=None)


def _aware(at: datetime) -> datetime:
    """``at``, refused without a zone: a naive moment would be read in the machine's zone."""
    if at.tzinfo is None:
        raise ValueError(f"a clock must read time-zone aware moments, got {at.isoformat()}")
    return at
