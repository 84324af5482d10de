"""What a run's tokens cost: one function from usage and a price, used by spans, the run log
and every report, so a step, a run and a key's week are priced the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from errand.agent.events import Event, RunFailed, RunFinished, RunStarted, StepFinished
from errand.config import ModelPrice, Settings
from errand.llm.types import Usage

PER = 1_000_000
"""Prices are per million tokens."""


def cost_of(usage: Usage, price: ModelPrice) -> float:
    """The cost of one call's (or a run's) tokens at ``price``: evaluated prompt tokens at the
    input price, cached ones at the cached price, written ones at the output price."""
    cached = price.input if price.cached_input is None else price.cached_input
    total = (
        usage.evaluated_prompt_tokens * price.input
        + usage.cached_tokens * cached
        + usage.completion_tokens * price.output
    )
    return round(total / PER, 9)


def add(total: Usage, more: Usage) -> Usage:
    """``total`` plus ``more``, field by field, as a new `Usage`."""
    return Usage(**{name: getattr(total, name) + getattr(more, name) for name in Usage.model_fields})


@dataclass
class CostMeter:
    """Prices one run's events as they pass: each step's tokens, and the run's.

    The model comes from ``run_started``; a run ended without totals (cancelled by a person)
    is priced by the steps it took."""

    settings: Settings
    model: str = ""
    price: ModelPrice | None = None
    steps: Usage = field(default_factory=Usage)
    """The tokens of the steps seen so far (the run's total also counts its plan)."""

    def see(self, event: Event) -> float | None:
        """The cost ``event`` carries (a step's or the whole run's), None when it carries none or
        the model has no price."""
        if isinstance(event, RunStarted):
            self.model = event.model
            self.price = self.settings.price_of(event.model)
            return None
        if isinstance(event, StepFinished):
            self.steps = add(self.steps, event.usage)
            return None if self.price is None else cost_of(event.usage, self.price)
        if isinstance(event, RunFinished | RunFailed):
            usage = self.run_usage(event)
            return None if self.price is None else cost_of(usage, self.price)
        return None

    def run_usage(self, event: RunFinished | RunFailed) -> Usage:
        """The run's tokens: its own total, or the sum of its steps when it ended without one."""
        u = event.usage
        return u if u.prompt_tokens or u.completion_tokens else self.steps

    def run_fields(self, event: RunFinished | RunFailed) -> dict[str, Any]:
        """What the run record keeps of the run's use: model, tokens and cost."""
        usage = self.run_usage(event)
        return {
            "model": self.model or None,
            "prompt_tokens": usage.prompt_tokens,
            "cached_tokens": usage.cached_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost": None if self.price is None else cost_of(usage, self.price),
        }
