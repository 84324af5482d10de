"""Confirmations: a person approves exactly what a `write` or `payment` tool will do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel


class ConfirmationRequest(BaseModel):
    """What a person is asked to approve."""

    run_id: str
    call_id: str
    name: str
    risk: str
    summary: str
    """Exactly what will happen, in words."""
    arguments: dict[str, Any]


class Decision(BaseModel):
    """A person's answer to a confirmation."""

    approved: bool
    note: str = ""
    """Optional words for the model (why it was rejected, what to change)."""


Approver = Callable[[ConfirmationRequest], Awaitable[Decision]]
"""Asks a person (CLI prompt, web dialog) and returns their decision."""


async def approve_all(request: ConfirmationRequest) -> Decision:
    """Approve everything (``--yes``, tests)."""
    return Decision(approved=True)


async def reject_all(request: ConfirmationRequest) -> Decision:
    """Reject everything."""
    return Decision(approved=False, note="Rejected by policy.")
