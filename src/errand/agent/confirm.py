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
    amount: int | None = None
    """What the call will charge, in minor units, when the tool priced it."""
    currency: str | None = None
    """Currency of ``amount``."""
    requested: bool = True
    """Whether the user's request asked for a change (the model's plan). A write the user did
    not ask for (one a tool result talked the model into) is never approved by a policy."""


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


def auto_approve_below(limit: int, currency: str, otherwise: Approver) -> Approver:
    """The user's policy "approve payments under ``limit`` (minor units of ``currency``) without
    asking"; anything else, anything the tool did not price, or a payment the request did not
    ask for, goes to ``otherwise``."""
    currency = currency.upper()

    async def decide(request: ConfirmationRequest) -> Decision:
        if (
            request.risk == "payment"
            and request.requested
            and request.amount is not None
            and request.currency == currency
            and request.amount < limit
        ):
            return Decision(approved=True, note=f"auto-approved: under {limit / 100:.2f} {currency}")
        return await otherwise(request)

    return decide
