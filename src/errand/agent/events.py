"""The one stream of typed events every front end consumes.

The CLI renders these, the server sends them as SSE, the web page draws them.
Nothing renders by reaching into the agent's internals.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from errand.llm.types import Usage


class _Event(BaseModel):
    run_id: str = ""
    """The run this event belongs to."""
    seq: int = 0
    """Position in the run's event stream, from 1 (the SSE event id)."""


class RunStarted(_Event):
    """A run began: what was asked, of which model, with which tools."""

    type: Literal["run_started"] = "run_started"
    input: str
    model: str
    tools: list[str]
    plan: dict[str, Any] | None = None
    """The model's first decision (topic, tools it named, verb): why it was offered ``tools``."""


class ReasoningDeltaEvent(_Event):
    """A piece of the model's reasoning (shown dimmed or folded; never in the answer)."""

    type: Literal["reasoning_delta"] = "reasoning_delta"
    step: int
    text: str


class TextDeltaEvent(_Event):
    """A piece of text the model wrote."""

    type: Literal["text_delta"] = "text_delta"
    step: int
    text: str


class ToolCallStarted(_Event):
    """The model called a tool."""

    type: Literal["tool_call"] = "tool_call"
    step: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    risk: str


class ConfirmationRequired(_Event):
    """A `write` or `payment` tool waits for a person to approve exactly this."""

    type: Literal["confirmation_required"] = "confirmation_required"
    step: int
    call_id: str
    name: str
    risk: str
    summary: str
    """What will happen, in words (item, dates, names, amount, account)."""
    arguments: dict[str, Any]
    amount: int | None = None
    """What it will charge, in minor units, when the tool priced it."""
    currency: str | None = None
    editable: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The arguments a person may change before approving, each with its JSON schema."""


class ConfirmationResolved(_Event):
    """A person approved or rejected a confirmation, or changed the call (``edited``): then the
    changed call is confirmed again, in a new ``confirmation_required`` with the same ``call_id``."""

    type: Literal["confirmation_resolved"] = "confirmation_resolved"
    step: int
    call_id: str
    approved: bool
    note: str = ""
    edited: dict[str, Any] = Field(default_factory=dict)
    """The arguments the person changed, with their new values (the old ones are in the
    ``confirmation_required`` before)."""
    by: str = ""
    """Who answered, when the surface knows (the API key's user, the terminal's user)."""


class ToolResultEvent(_Event):
    """A tool call finished (or failed; the model sees the error and may recover)."""

    type: Literal["tool_result"] = "tool_result"
    step: int
    call_id: str
    name: str
    ok: bool
    summary: str
    """One line for people."""
    content: str
    """What the model was shown."""
    duration_ms: float
    artifacts: list[str] = Field(default_factory=list)
    """Files the tool saved, such as charts."""


class RevisionRequested(_Event):
    """The model was asked to revise its draft answer: it stated figures no tool result contains
    (``unverified_numbers``), it left undone the action the request asked for, or it named
    none of the records its figures are about (``nameless``), or it answered a Chinese request
    in another language (``language``)."""

    type: Literal["revision_requested"] = "revision_requested"
    step: int
    unverified_numbers: list[str]
    reason: Literal["unverified_numbers", "unfinished_action", "nameless", "language"] = "unverified_numbers"


class StepFinished(_Event):
    """One model step ended; its token counts and timing."""

    type: Literal["step_finished"] = "step_finished"
    step: int
    usage: Usage
    duration_ms: float


class RunFinished(_Event):
    """The run ended with an answer."""

    type: Literal["run_finished"] = "run_finished"
    answer: str
    steps: int
    usage: Usage
    duration_ms: float
    artifacts: list[str] = Field(default_factory=list)
    unverified_numbers: list[str] = Field(default_factory=list)
    """Numbers in the answer that no tool result or the request contains."""
    outcome: Literal["answered", "asked", "not_done"] = "answered"
    """``asked``: the answer is a question to the user (``ask_user``); ``not_done``: the user asked
    for a change (a booking, an order) and no write was attempted, or the service refused the
    last one and none went through after; else ``answered``."""


class RunFailed(_Event):
    """The run ended without an answer; `reason` says why and what to do."""

    type: Literal["run_failed"] = "run_failed"
    reason: str
    kind: Literal["budget", "repeated_call", "model_error", "confirmation_required", "cancelled", "error"] = (
        "error"
    )
    steps: int = 0
    usage: Usage = Field(default_factory=Usage)
    duration_ms: float = 0.0


Event = Annotated[
    RunStarted
    | ReasoningDeltaEvent
    | TextDeltaEvent
    | ToolCallStarted
    | ConfirmationRequired
    | ConfirmationResolved
    | ToolResultEvent
    | RevisionRequested
    | StepFinished
    | RunFinished
    | RunFailed,
    Field(discriminator="type"),
]
