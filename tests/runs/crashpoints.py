"""Crash points for the crash tests, kept out of errand itself: a process started as
``python -m tests.runs.crashpoints worker|serve ...`` is ``errand`` with durable runs wrapped
so that each run named in a plan stops at its point and holds there, until the test sends the
process SIGKILL or SIGTERM. Production code carries no hook for this.

The plan (``ERRAND_TEST_CRASH_PLAN``, a JSON file ``{run_id: point}``) is written before the
process starts; when a run reaches its point, ``run_id point`` is appended to the file named by
``ERRAND_TEST_CRASH_REACHED``, and the run holds (an awaited event that never comes, so a
graceful stop cancels it as it would a slow model or tool). Every run of the plan held at once
means one process death covers many points.

Points, by what the run is doing (``N`` a model step, ``L`` a tool call's label: ``plan``,
``describe:NAME`` or a tool's name):

- ``start``: taken from the queue, not yet started (its record still says ``queued``);
- ``before_model:N``, ``in_model:N`` (the model turn's step is running), ``after_model:N``
  (the turn is checkpointed, not yet acted on);
- ``before_tool:L``, ``in_tool:L`` (inside the step, before the call), ``after_commit:L``
  (the call committed, its step not yet checkpointed), ``after_tool:L``;
- ``awaiting:NAME``: waiting for a person to approve tool NAME (the hold is the wait itself);
- ``finishing``: the answer is in the run log, the workflow not yet marked done.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

PLAN_VAR = "ERRAND_TEST_CRASH_PLAN"
REACHED_VAR = "ERRAND_TEST_CRASH_REACHED"

_plan: dict[str, str] = {}
_reached_file: Path | None = None
_lock = threading.Lock()


def _reached(run_id: str, point: str) -> bool:
    """Whether ``run_id`` is planned to stop at ``point``; if so, say it arrived."""
    if _plan.get(run_id) != point or _reached_file is None:
        return False
    with _lock, _reached_file.open("a", encoding="utf-8") as out:
        out.write(f"{run_id} {point}\n")
    return True


async def reach(run_id: str, point: str, *, hold: bool = True) -> None:
    """Stop the run at ``point`` if the plan says so: until killed, or cancelled by a stop."""
    if _reached(run_id, point) and hold:
        await asyncio.Event().wait()


def reach_in_thread(run_id: str, point: str) -> None:
    """`reach` for code that runs in a worker thread (it cannot be cancelled, so it waits a while)."""
    if _reached(run_id, point):
        threading.Event().wait(120)


def install(plan: dict[str, str], reached: Path) -> None:
    """Wrap durable runs' steps, confirmations, start and end with the plan's points."""
    global _plan, _reached_file
    _plan, _reached_file = plan, reached

    from errand.agent.confirm import Approver, ConfirmationRequest, Decision
    from errand.agent.events import Event, RunFinished
    from errand.agent.steps import ModelTurn, TurnEvents
    from errand.runs import durable, workflow
    from errand.runs.log import RunLog
    from errand.runs.recorder import Recorder

    model_turn, tool_call = durable.DurableSteps.model_turn, durable.DurableSteps.tool_call

    async def held_model_turn(
        self: durable.DurableSteps, step: int, seq: int, turn: TurnEvents
    ) -> AsyncIterator[BaseModel | ModelTurn]:
        run = self.recorder.run_id
        await reach(run, f"before_model:{step}")

        async def turn_held() -> AsyncIterator[BaseModel | ModelTurn]:
            await reach(run, f"in_model:{step}")
            async for item in turn():
                yield item

        async for item in model_turn(self, step, seq, turn_held):
            if isinstance(item, ModelTurn):
                await reach(run, f"after_model:{step}")
            yield item

    async def held_tool_call(self: durable.DurableSteps, label: str, call: Callable[[], Awaitable[T]]) -> T:
        run = self.recorder.run_id
        await reach(run, f"before_tool:{label}")

        async def call_held() -> T:
            await reach(run, f"in_tool:{label}")
            outcome = await call()
            await reach(run, f"after_commit:{label}")  # done, not yet checkpointed
            return outcome

        outcome = await tool_call(self, label, call_held)
        await reach(run, f"after_tool:{label}")
        return outcome

    approver_for = workflow.durable_approver

    def held_approver(policy: str, expiry_s: float) -> Approver:
        decide = approver_for(policy, expiry_s)

        async def approve(request: ConfirmationRequest) -> Decision:
            await reach(request.run_id, f"awaiting:{request.name}", hold=False)  # the wait holds it
            return await decide(request)

        return approve

    start = RunLog.start

    def held_start(self: RunLog, run_id: str) -> None:
        reach_in_thread(run_id, "start")
        start(self, run_id)

    add, drain = Recorder.add, Recorder.drain
    ended: set[int] = set()

    def add_noting_the_end(self: Recorder, event: Event) -> None:
        add(self, event)
        if isinstance(event, RunFinished):
            ended.add(id(self))

    async def held_drain(self: Recorder) -> None:
        await drain(self)
        if id(self) in ended:
            await reach(self.run_id, "finishing")

    durable.DurableSteps.model_turn = held_model_turn  # type: ignore[method-assign]
    durable.DurableSteps.tool_call = held_tool_call  # type: ignore[method-assign]
    workflow.durable_approver = held_approver
    RunLog.start = held_start  # type: ignore[method-assign]
    Recorder.add = add_noting_the_end  # type: ignore[method-assign]
    Recorder.drain = held_drain  # type: ignore[method-assign]


def write_plan(path: Path, plan: dict[str, str]) -> dict[str, str]:
    """Write ``plan`` where the process reads it; the environment that points it there."""
    path.write_text(json.dumps(plan), encoding="utf-8")
    return {PLAN_VAR: str(path), REACHED_VAR: str(path.with_suffix(".reached"))}


def reached(env: dict[str, str]) -> dict[str, str]:
    """The runs that reached their point so far, with the point."""
    path = Path(env[REACHED_VAR])
    if not path.exists():
        return {}
    return dict(line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines() if line)


def main() -> Any:
    """Install the plan from the environment, then run the ``errand`` command."""
    install(
        json.loads(Path(os.environ[PLAN_VAR]).read_text(encoding="utf-8")),
        Path(os.environ[REACHED_VAR]),
    )
    from errand.cli import main as errand

    return errand()


if __name__ == "__main__":
    main()
