"""The run workflow: the agent loop as a DBOS workflow, its events written to the run log.

DBOS calls `run_workflow` in whichever process executes the run (a worker, the server,
the CLI) and again after a crash; the process's settings, store and model are those
`Runs.open` installed with `install`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from dbos import DBOS
from dbos import error as dbos_error

from errand.agent.events import (
    RunFailed,
    RunFinished,
)
from errand.agent.state import Conversation
from errand.config import Settings
from errand.errors import ConfigError, ConfirmationExpired
from errand.llm import make_model
from errand.llm.base import ChatModel
from errand.llm.types import Message
from errand.runs.durable import DurableSteps, RunCancelled, durable_approver
from errand.runs.log import RunLog, RunStatus
from errand.runs.recorder import Recorder
from errand.runtime import build_agent
from errand.services.store import ServiceStore
from errand.telemetry.cost import CostMeter
from errand.toolbox import Toolbox

WORKFLOW_NAME = "errand.run"


@dataclass
class ProcessRuntime:
    """What runs executed in this process share: one settings object, database and model."""

    settings: Settings
    store: ServiceStore
    log: RunLog
    toolbox: Toolbox | None = None
    """Outside tools (MCP, OpenAPI) next to the built-in ones, when errand.toml names some."""
    _model: ChatModel | None = field(default=None, repr=False)

    def model(self) -> ChatModel:
        """The model, loaded on the first run (a process that only reads runs never loads it)."""
        if self._model is None:
            self._model = make_model(self.settings)
        return self._model


_runtime: ProcessRuntime | None = None


def install(runtime: ProcessRuntime | None) -> None:
    """Make ``runtime`` the one this process's workflows use."""
    global _runtime
    _runtime = runtime


def _current() -> ProcessRuntime:
    if _runtime is None:
        raise ConfigError("Runs are not open in this process: call Runs.open(settings) first.")
    return _runtime


@DBOS.workflow(name=WORKFLOW_NAME)
async def run_workflow(run_id: str) -> str:
    """Run the agent on a stored run, durably; returns the answer or why there is none."""
    rt = _current()

    async def load() -> dict[str, Any]:
        return await asyncio.to_thread(rt.log.load, run_id)

    info = await DBOS.run_step_async({"name": "load"}, load)
    options: dict[str, Any] = info["options"]
    await asyncio.to_thread(rt.log.start, run_id)
    settings = rt.settings
    if options.get("max_steps"):
        settings = settings.model_copy(update={"max_steps": int(options["max_steps"])})
    recorder = Recorder(rt.log, run_id, meter=CostMeter(settings))
    written = await asyncio.to_thread(rt.log.last_seq, run_id)
    steps = DurableSteps(recorder, written=written)
    agent = build_agent(
        settings,
        rt.model(),
        rt.store,
        approver=durable_approver(str(options.get("approve", "ask")), settings.confirmation_expiry_s),
        toolbox=rt.toolbox,
        steps=steps,
        today=lambda: str(options["today"]),
    )

    def read_only(label: str) -> bool:
        # The agent's own steps ("plan", "describe:NAME") are labelled apart from tool names,
        # but a tool may be called "plan": the plan is always checkpointed.
        tool = agent.tools.get(label) if label != "plan" else None
        return tool is not None and tool.risk == "read"

    steps.read_only = read_only
    last_seq, outcome = 0, ""

    def stop(reason: str) -> None:
        nonlocal outcome
        outcome = reason
        recorder.add(RunFailed(run_id=run_id, seq=last_seq + 1, reason=reason, kind="cancelled"))

    # A turn of a thread starts from the earlier turns, as the load step read them (a resumed
    # run replays that step, so it starts from the same conversation).
    history = [Message.model_validate(m) for m in info.get("history") or ()]
    conversation = (
        Conversation([Message(role="system", content=agent.system_prompt), *history]) if history else None
    )
    try:
        stream = agent.stream(
            info["input"],
            run_id=run_id,
            user=info["user"],
            images=options.get("images") or (),
            attachments=options.get("attachments") or (),  # for read_image (#16)
            conversation=conversation,
        )
        async for event in stream:
            last_seq = event.seq
            recorder.add(event)
            if isinstance(event, RunFinished | RunFailed):
                outcome = event.answer if isinstance(event, RunFinished) else event.reason
                break
    except (ConfirmationExpired, RunCancelled) as exc:
        stop(str(exc))
    except (dbos_error.DBOSWorkflowCancelledError, asyncio.CancelledError) as exc:
        # Cancelled at a step boundary, or this task was cancelled: nothing may be awaited now.
        # A person's cancel has already marked the run cancelled; a task cancelled without one
        # is this process stopping (SIGTERM): the run stays as it was, and the next process
        # with this executor id (or `errand runs resume`) carries it on from its last step.
        if (
            isinstance(exc, dbos_error.DBOSWorkflowCancelledError)
            or rt.log.status(run_id) == RunStatus.cancelled
        ):
            stop("The run was cancelled.")
        recorder.flush()
        recorder.close()
        raise
    except dbos_error.DBOSWorkflowConflictIDError:
        # DBOS took the run from this execution: cancelled (the run log says so), or resumed
        # elsewhere, where it carries on and writes the rest itself.
        if rt.log.status(run_id) == RunStatus.cancelled:
            stop("The run was cancelled.")
        recorder.flush()
        recorder.close()
        raise
    await recorder.drain()
    recorder.close()
    return outcome
