"""Durable steps and durable confirmations, on DBOS.

Each model turn and each tool call that may change something is one DBOS step: after a
crash, a step that finished is replayed from its checkpoint, never executed again. A tool
call cut off after its commit but before its checkpoint runs again with the same
idempotency key, and the service hands back the first result.

A read-only tool call is not checkpointed: it takes its step number (so the numbering of
the steps after it never depends on which calls were checkpointed) and simply runs again
when a run is resumed, reading what the service holds then. A checkpoint costs two
database statements and two thread hops; a read is most of an errand's calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from dbos import DBOS
from dbos import error as dbos_error
from pydantic import BaseModel

from errand.agent.confirm import Approver, ConfirmationRequest, Decision, auto_approve_below
from errand.agent.steps import ModelTurn, TurnEvents
from errand.config import parse_amount
from errand.errors import ConfirmationExpired, RunConflict
from errand.runs.recorder import Recorder

T = TypeVar("T")

DECISION_TOPIC = "decision"
"""The DBOS message topic that carries a person's answer to a confirmation."""


class RunCancelled(RunConflict):
    """The run was cancelled while it waited for a confirmation."""


class DurableSteps:
    """A `StepRunner` that checkpoints every model turn and every tool call that may change
    something as a DBOS step."""

    def __init__(
        self, recorder: Recorder, *, written: int = 0, read_only: Callable[[str], bool] = lambda label: False
    ) -> None:
        self.recorder = recorder
        """Writes the run's events; told before each step to send what it holds
        (`Recorder.flush_soon`), so the log is current whenever the run waits on the model or a
        tool, within the recorder's ``max_delay_s``."""
        self.written = written
        """The highest event number already in the log when this process took the run over."""
        self.max_delay_s = 0.05
        """Longest a streamed piece waits before it is written."""
        self.read_only = read_only
        """Whether the call with this label only reads (a tool whose risk is ``read``): its replay
        is harmless, so it runs without a checkpoint."""

    async def model_turn(self, step: int, seq: int, turn: TurnEvents) -> AsyncIterator[BaseModel | ModelTurn]:
        """Run the turn as a step, streaming its pieces live; a replayed turn streams nothing."""
        self.recorder.flush_soon()
        pieces: asyncio.Queue[BaseModel] = asyncio.Queue()

        async def produce() -> ModelTurn:
            if self.written > seq:  # pieces of this turn that a crash cut short: it starts over
                self.recorder.flush()
                self.recorder.truncate_after(seq)
                self.written = seq
            # The turn's pieces are written here, inside the step: once it is checkpointed a
            # replay never emits them again, so they must be in the log by then.
            result, batch, since = ModelTurn(), list[dict[str, Any]](), time.perf_counter()
            written_any = False
            async for item in turn():
                if isinstance(item, ModelTurn):
                    result = item
                    continue
                pieces.put_nowait(item)
                batch.append(item.model_dump(mode="json"))
                if time.perf_counter() - since > self.max_delay_s:
                    self.recorder.flush()  # the events before the turn go first
                    self.recorder.submit(batch)
                    batch, since, written_any = [], time.perf_counter(), True
            if batch:
                self.recorder.flush()
                self.recorder.submit(batch)
            if written_any or batch:
                await self.recorder.drain()
            return result

        reservation = DBOS.reserve_step()
        task = asyncio.ensure_future(reservation.run_async({"name": f"model:{step}"}, produce))
        while not task.done():
            getter = asyncio.ensure_future(pieces.get())
            done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
            else:
                getter.cancel()
        while not pieces.empty():
            yield pieces.get_nowait()
        result = task.result()
        yield result

    async def tool_call(self, label: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one call as a step; it finishes and is recorded even if the run is cancelled meanwhile.
        A read-only call takes its step number and runs with no checkpoint."""
        self.recorder.flush_soon()
        if self.read_only(label):
            DBOS.reserve_step()
            return await call()

        finished: list[T] = []

        async def run() -> T:
            outcome = await call()
            finished.append(outcome)
            return outcome

        step = asyncio.ensure_future(DBOS.run_step_async({"name": f"tool:{label}"}, run))
        try:
            outcome: T = await asyncio.shield(step)
        except asyncio.CancelledError:
            # Cancelled mid-call: the call finishes and is checkpointed, and its result goes on
            # the record; the run stops at its next step.
            outcome = await step
        except dbos_error.DBOSWorkflowConflictIDError:
            # Cancelled as the call finished: DBOS refused its checkpoint, but the call happened,
            # so its result still goes on the record before the run stops.
            if not finished:
                raise
            outcome = finished[0]
        return outcome


def durable_approver(policy: str, expiry_s: float) -> Approver:
    """Confirmations that wait, across restarts, for `Runs.approve` or `Runs.reject`.

    ``policy`` is ``"all"`` (approve everything), ``"ask"`` or ``"below:50 CNY"`` (approve
    payments under the amount, ask for the rest). No answer within ``expiry_s`` ends the run
    cancelled (`ConfirmationExpired`), before anything was charged."""

    async def wait(request: ConfirmationRequest) -> Decision:
        message: Any = await DBOS.recv_async(DECISION_TOPIC, timeout_seconds=expiry_s)
        if message is None:
            raise ConfirmationExpired(
                f"Nobody approved {request.name} within {expiry_s:.0f} s, so the run was cancelled "
                "and nothing was charged. Start it again, or raise ERRAND_CONFIRMATION_EXPIRY_S."
            )
        if message.get("cancel"):
            raise RunCancelled("The run was cancelled while it waited for a confirmation.")
        return Decision.model_validate(message)

    async def approve(request: ConfirmationRequest) -> Decision:
        return Decision(approved=True, note="approved in advance (--yes)")

    if policy == "all":
        return approve
    if policy.startswith("below:"):
        limit, currency = parse_amount(policy.removeprefix("below:"))
        return auto_approve_below(limit, currency, wait)
    return wait
