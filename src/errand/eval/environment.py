"""What the runner needs from a world the agent acts in: tools, a fresh state per attempt, state checks.

The built-in services (`errand.eval.builtin`) and outside tool environments
(`errand.eval.adapter`) both implement these two classes, so the runner, the
checks on answers and calls, and the reports are the same for every suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from errand.agent import CallInfo
from errand.errors import ConfigError
from errand.eval import clock
from errand.eval.checks import CheckResult
from errand.eval.tasks import PatchOp, SetupCall, Task
from errand.tools import ToolContext, ToolRegistry
from errand.tools.calls import run_call_sync


class World(ABC):
    """One attempt's private state: a fresh copy of the environment with the task's patch applied."""

    def __init__(self, env: Environment, task: Task, workdir: Path, clock: Callable[[], datetime]) -> None:
        self.env = env
        self.task = task
        self.workdir = workdir
        self.clock = clock
        """What the attempt's tools read as now (`ToolContext.now`): the eval's frozen moment."""

    @abstractmethod
    def context(
        self, info: CallInfo, now: Callable[[], datetime] | None = None
    ) -> AbstractContextManager[ToolContext]:
        """What one tool call gets (the agent's context factory); its clock is the attempt's
        unless ``now`` says otherwise (a setup call at its own time)."""

    def setup(self) -> None:
        """Apply the task's patch, in order (blocking; the runner calls it in a worker thread)."""
        for n, op in enumerate(self.task.state.patch):
            try:
                self.apply(n, op)
            except Exception as exc:
                raise ConfigError(f"task {self.task.id}: patch step {n + 1} failed: {exc}") from exc

    def apply(self, n: int, op: PatchOp) -> None:
        """One patch step; environments add the kinds they support on top of setup calls."""
        if op.call is None:
            kind = next(k for k in ("balance", "limit", "update") if getattr(op, k) is not None)
            raise ConfigError(f"the {self.env.name} environment does not support '{kind}' patches")
        self.setup_call(n, op.call)

    def setup_call(self, n: int, call: SetupCall) -> Any:
        """Run a real tool as part of the initial state (at the call's own time, if it names one)."""
        t = self.env.registry.get(call.tool)
        if t is None:
            raise ConfigError(f"no tool {call.tool!r} for a setup call")
        args = t.validate(call.args)
        info = CallInfo(
            run_id="setup",
            user=call.user or self.task.user,
            step=0,
            call_id=f"setup_{n}",
            name=t.name,
            idempotency_key=f"setup:{self.task.id}:{n}",
        )
        if t.is_async:
            raise ConfigError(f"{t.name} is async; setup calls run sync tools only")
        now = None if call.at is None else clock.at(call.at)
        done = run_call_sync(t, args, lambda: self.context(info, now))
        if not done.ok:
            raise ConfigError(f"{t.name}: {done.value}")
        return done.value

    @abstractmethod
    def snapshot(self) -> None:
        """Remember what the state checks compare against (balances, row ids) before the run."""

    @abstractmethod
    def state_checks(self) -> list[CheckResult]:
        """Check the state after the run against the task's row, balance and money checks."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""


class Environment(ABC):
    """A set of tools over some state; opens a fresh `World` for each attempt."""

    name: str
    registry: ToolRegistry
    descriptions: Mapping[str, str]
    """Domain → one line for the catalogue the model chooses services from (`errand.agent.plan`)."""

    @abstractmethod
    def open(self, task: Task, workdir: Path, clock: Callable[[], datetime]) -> World:
        """A fresh world for one attempt at ``task`` under ``clock``, its patch not yet applied (blocking)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release anything shared by the attempts (a template database)."""
