"""A run's timeline, read back from its stored events: what `errand runs show --trace` draws.

Events carry durations, not clock times, so the timeline lays them end to end: each step's
model call, then its tool calls side by side (they run together), then the next step. What
the durations do not cover (planning, waiting for a person, errand's own work) is the run's
``other_ms``.

The one place a run's timeline is computed: the terminal draws it (`errand.cli.waterfall`) and
the server sends it as JSON (``GET /v1/runs/{id}/trace``, drawn by the web page)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import reduce
from typing import Any

from pydantic import BaseModel, Field, computed_field

from errand.config import ModelPrice, Settings
from errand.llm.types import Usage
from errand.telemetry.cost import add, cost_of


class ToolBar(BaseModel):
    """One tool call: when it ran (from the run's start), for how long, and how it ended."""

    name: str
    call_id: str
    start_ms: float = 0.0
    ms: float = 0.0
    outcome: str = "not_run"
    """``ok``, ``error``, ``rejected`` (a person said no) or ``not_run``."""
    confirmation: str | None = None
    """``approved`` or ``rejected`` when a person was asked."""


class StepBar(BaseModel):
    """One step: its model call and the tool calls it made."""

    step: int
    start_ms: float = 0.0
    model_ms: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    cost: float | None = None
    tools: list[ToolBar] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def end_ms(self) -> float:
        """When the step's last call ended."""
        return max([self.start_ms + self.model_ms, *(t.start_ms + t.ms for t in self.tools)])


class Timeline(BaseModel):
    """A run's steps laid end to end, with its totals."""

    run_id: str = ""
    model: str = ""
    steps: list[StepBar] = Field(default_factory=list)
    total_ms: float = 0.0
    """The run's own duration (0 while it runs)."""
    usage: Usage = Field(default_factory=Usage)
    cost: float | None = None
    currency: str = "USD"
    outcome: str = "running"
    """``answered``, ``not_done``, ``asked``, ``failed``, or ``running`` before its last event."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def other_ms(self) -> float:
        """Time no step accounts for: planning, confirmations, errand's own work."""
        covered = sum(s.model_ms + max((t.ms for t in s.tools), default=0.0) for s in self.steps)
        return max(0.0, self.total_ms - covered)


def timeline(events: Iterable[Mapping[str, Any]], settings: Settings) -> Timeline:
    """The timeline of a run's stored events (their ``data``). Costs are those the run recorded;
    a run recorded before costs were is priced at today's ``settings``."""
    line = Timeline(currency=settings.price_currency)
    price: ModelPrice | None = None
    steps: dict[int, StepBar] = {}
    calls: dict[str, ToolBar] = {}
    cursor = 0.0

    def step_of(n: int) -> StepBar:
        nonlocal cursor
        if n not in steps:
            if line.steps:
                cursor = line.steps[-1].end_ms
            steps[n] = StepBar(step=n, start_ms=cursor)
            line.steps.append(steps[n])
        return steps[n]

    for ev in events:
        kind = ev.get("type")
        if kind == "run_started":
            line.run_id, line.model = str(ev.get("run_id", "")), str(ev.get("model", ""))
            price = settings.price_of(line.model)
        elif kind == "step_finished":
            bar = step_of(int(ev["step"]))
            bar.model_ms = float(ev.get("duration_ms", 0.0))
            bar.usage = Usage.model_validate(ev.get("usage") or {})
            bar.cost = _cost(ev, bar.usage, price)
        elif kind == "tool_call":
            bar = step_of(int(ev["step"]))
            tool = ToolBar(name=str(ev.get("name", "")), call_id=str(ev.get("call_id", "")))
            tool.start_ms = bar.start_ms + bar.model_ms
            calls[tool.call_id] = tool
            bar.tools.append(tool)
        elif kind == "confirmation_resolved" and str(ev.get("call_id")) in calls:
            calls[str(ev["call_id"])].confirmation = "approved" if ev.get("approved") else "rejected"
        elif kind == "tool_result" and str(ev.get("call_id")) in calls:
            tool = calls[str(ev["call_id"])]
            tool.ms = float(ev.get("duration_ms", 0.0))
            tool.outcome = (
                "rejected" if tool.confirmation == "rejected" else "ok" if ev.get("ok") else "error"
            )
        elif kind in ("run_finished", "run_failed"):
            line.total_ms = float(ev.get("duration_ms", 0.0))
            line.usage = Usage.model_validate(ev.get("usage") or {})
            if not (line.usage.prompt_tokens or line.usage.completion_tokens):
                line.usage = reduce(add, (s.usage for s in line.steps), Usage())
            line.cost = _cost(ev, line.usage, price)
            line.outcome = str(ev.get("outcome", "answered")) if kind == "run_finished" else "failed"
    return line


async def read_timeline(
    events_after: Callable[[int], Awaitable[Sequence[Any]]], settings: Settings
) -> Timeline:
    """The timeline of a run whose stored events ``events_after(n)`` reads in pages (those
    numbered after ``n``, each with ``id`` and ``data``: `Runs.events`), all of them however many."""
    stored: list[Mapping[str, Any]] = []
    after = 0
    while batch := await events_after(after):
        stored.extend(e.data for e in batch)
        after = batch[-1].id
    return timeline(stored, settings)


def _cost(ev: Mapping[str, Any], usage: Usage, price: ModelPrice | None) -> float | None:
    if "cost" in ev:
        value = ev["cost"]
        return None if value is None else float(value)
    return None if price is None else cost_of(usage, price)
