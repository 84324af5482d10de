"""A frozen clock for evaluation: every attempt sees the same "now", whenever the suite runs.

Opening hours, refund rules, order status and spending limits all read the clock, so a
suite run at 03:00 or next month would grade differently. Tools read the time only through
their context (`ToolContext.now`), so the eval hands every tool context of an attempt a
`Frozen` clock (`World.context`) and tells the agent the same time. A setup call may run at
its own moment (`at`: "this order was placed ten days ago") without moving anyone else's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from errand.services.clock import LOCAL

CST = LOCAL
"""The services' cities keep UTC+8 (China Standard Time, Singapore)."""

EVAL_NOW = datetime(2026, 11, 29, 12, 0, tzinfo=CST)
"""When every built-in task happens: a Sunday at noon in Shanghai, two days before the timetable."""


@dataclass(frozen=True)
class Frozen:
    """A clock that always reads ``moment``: what an attempt's tools get as `ToolContext.now`."""

    moment: datetime = EVAL_NOW
    """Time-zone aware."""

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError("the eval clock needs an aware datetime, e.g. 2026-11-29T12:00:00+08:00")

    def __call__(self) -> datetime:
        return self.moment

    def today_text(self) -> str:
        """What the agent is told "now" is, in the same words it uses for the real clock."""
        t = self.moment.astimezone(CST)
        return f"{t:%Y-%m-%d %H:%M}, {t:%A}, time zone Asia/Shanghai"


def at(moment: datetime) -> Frozen:
    """The clock of a setup call run at ``moment`` (one without a zone is the cities' time)."""
    return Frozen(moment if moment.tzinfo is not None else moment.replace(tzinfo=CST))
