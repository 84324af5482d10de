"""Where the agent's effects run: in memory, or as durable steps that are never repeated.

The loop hands every model turn and every tool call to a `StepRunner`. In memory
they simply run. The durable runner (`errand.runs`) checkpoints each one, so a run
resumed after a crash replays what already happened instead of doing it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import BaseModel

from errand.llm.types import MalformedToolCall, ToolCall, Usage

T = TypeVar("T")


@dataclass
class ModelTurn:
    """What one model step produced: all the loop needs to go on, small enough to checkpoint."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    malformed: list[MalformedToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    events: int = 0
    """How many events the turn emitted (text and reasoning pieces), so a replay numbers the
    events after it exactly as the first execution did."""
    duration_ms: float = 0.0
    timed_out: bool = False
    """The run's wall-time budget ran out during the turn."""
    error: str | None = None
    """The model backend failed; the message says why."""


TurnEvents = Callable[[], AsyncIterator[BaseModel | ModelTurn]]
"""Runs one model turn: yields its live events, then the `ModelTurn` last."""


class StepRunner(Protocol):
    """Runs the agent's model turns and tool calls."""

    def model_turn(self, step: int, seq: int, turn: TurnEvents) -> AsyncIterator[BaseModel | ModelTurn]:
        """Run ``turn`` (step ``step``; the run's last event number is ``seq``); yield what it yields."""
        ...

    async def tool_call(self, label: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one effect (a tool call, or the lookup behind a confirmation) and return its outcome."""
        ...


class InMemorySteps:
    """Runs everything directly: nothing survives the process, and nothing costs extra."""

    def model_turn(self, step: int, seq: int, turn: TurnEvents) -> AsyncIterator[BaseModel | ModelTurn]:
        """The turn's own stream."""
        return turn()

    async def tool_call(self, label: str, call: Callable[[], Awaitable[T]]) -> T:
        """The call's outcome."""
        return await call()
