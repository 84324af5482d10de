"""The run log's writer: a run's events, in order, off the run's path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from errand.agent.events import (
    ConfirmationRequired,
    ConfirmationResolved,
    Event,
    ReasoningDeltaEvent,
    RunFailed,
    RunFinished,
    StepFinished,
    TextDeltaEvent,
)
from errand.runs.log import RunLog, RunStatus
from errand.telemetry.cost import CostMeter


def state_after(event: Event) -> dict[str, Any] | None:
    """The run state an event implies (``status`` and fields), or None if it implies none."""
    if isinstance(event, ConfirmationRequired):
        return {"status": RunStatus.awaiting_confirmation, "pending": event.model_dump(mode="json")}
    if isinstance(event, ConfirmationResolved):
        return {"status": RunStatus.running, "pending": None}
    if isinstance(event, RunFinished):
        return {"status": RunStatus.succeeded, "answer": event.answer, "pending": None}
    if isinstance(event, RunFailed):
        status = RunStatus.cancelled if event.kind == "cancelled" else RunStatus.failed
        return {"status": status, "error": event.reason, "pending": None}
    return None


def record(log: RunLog, run_id: str, event: Event) -> None:
    """Write one event and the state it implies, in one commit."""
    log.append(run_id, [event.model_dump(mode="json")], state_after(event))


class Recorder:
    """Writes a run's events in order, off the run's path: batches go to one writer thread at
    every change of state, at least every ``max_delay_s``, and before the run waits on a model
    or a tool, but then no sooner than ``max_delay_s`` after the last batch: quick steps share
    a commit, and a slow call never holds back the events before it for longer.

    The run never waits for a write, except where it must: before a model turn is
    checkpointed (`drain`), and before the run ends. Events the process had not written when
    it died are written again when the recovered workflow replays them.

    With a ``meter``, each ``step_finished`` and the run's last event are written with their
    ``cost``, and the run record gets the run's model, tokens and cost when it ends."""

    def __init__(
        self, log: RunLog, run_id: str, *, max_delay_s: float = 0.05, meter: CostMeter | None = None
    ) -> None:
        self.log = log
        self.run_id = run_id
        self.max_delay_s = max_delay_s
        self.meter = meter
        self._batch: list[dict[str, Any]] = []
        self._since = 0.0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"errand-log-{run_id}")
        self._error: BaseException | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._sent = float("-inf")
        """When the last batch went to the writer."""

    def add(self, event: Event) -> None:
        """Queue one event; send it to the writer if it changes the run's state or the batch is old.

        Streamed pieces are skipped: the model turn's step writes them itself (`submit`)."""
        if isinstance(event, TextDeltaEvent | ReasoningDeltaEvent):
            return
        if not self._batch:
            self._since = time.perf_counter()
        data = event.model_dump(mode="json")
        state = state_after(event)
        if self.meter is not None:
            cost = self.meter.see(event)
            if isinstance(event, StepFinished | RunFinished | RunFailed):
                data["cost"] = cost
            if state is not None and isinstance(event, RunFinished | RunFailed):
                state |= self.meter.run_fields(event)
        self._batch.append(data)
        if state is not None or time.perf_counter() - self._since > self.max_delay_s:
            self.flush(state)

    def flush_soon(self) -> None:
        """The run is about to wait on a model or a tool: send what is queued to the writer now,
        or, if the last batch went less than ``max_delay_s`` ago, when that much time has passed,
        with whatever joins it by then. A slow run's log is current at every wait; a run of
        quick steps writes one commit per ``max_delay_s``, not one per step."""
        if not self._batch or self._timer is not None:
            return
        wait = self._sent + self.max_delay_s - time.perf_counter()
        if wait <= 0:
            self.flush()
        else:
            self._timer = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self, state: dict[str, Any] | None = None) -> None:
        """Send what is queued (and ``state``) to the writer, to be written in one commit."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._batch or state is not None:
            self.submit(self._batch, state)
            self._batch = []
            self._sent = time.perf_counter()

    def submit(self, events: list[dict[str, Any]], state: dict[str, Any] | None = None) -> None:
        """Write ``events`` after everything submitted before."""
        self._writer.submit(self._guarded, self.log.append, self.run_id, events, state)

    def truncate_after(self, seq: int) -> None:
        """Drop the run's events after ``seq``, in order with the writes."""
        self._writer.submit(self._guarded, self.log.truncate_after, self.run_id, seq)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # surfaced by the next drain, in the run's own task
            self._error = exc

    async def drain(self) -> None:
        """Wait until everything sent so far is written; raise what a write failed with."""
        self.flush()
        await asyncio.wrap_future(self._writer.submit(lambda: None))
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Stop the writer once it has written everything sent to it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._writer.shutdown(wait=True)
