"""Confirmations: a person approves exactly what a `write` or `payment` tool will do.

A person may also change the arguments the tool marks `Editable` (the passengers, a date, a
quantity): the agent then prices the changed call and asks again, and runs only what was
approved as it stands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jsonschema
from pydantic import BaseModel, Field

from errand.errors import EditRefused, ToolError
from errand.tools import Tool
from errand.tools.base import strict_problems


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
    editable: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The arguments a person may change, each with its JSON schema (the tool's `Editable` ones)."""


class Decision(BaseModel):
    """A person's answer to a confirmation."""

    approved: bool
    note: str = ""
    """Optional words for the model (why it was rejected, what to change)."""
    arguments: dict[str, Any] | None = None
    """With ``approved``: the arguments the person changed, with their new values (others keep
    theirs). The changed call is priced and put to them again before anything runs."""
    by: str = ""
    """Who answered (a user name), for the run's record of who changed what."""


Approver = Callable[[ConfirmationRequest], Awaitable[Decision]]
"""Asks a person (CLI prompt, web dialog) and returns their decision."""


async def approve_all(request: ConfirmationRequest) -> Decision:
    """Approve everything (``--yes``, tests)."""
    return Decision(approved=True)


POLICY = "policy"
"""Who answered a confirmation that no person saw (`Decision.by`): the user's standing rule."""


async def reject_all(request: ConfirmationRequest) -> Decision:
    """Reject everything."""
    return Decision(approved=False, note="Rejected by policy.", by=POLICY)


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


def edits(
    arguments: Mapping[str, Any], editable: Mapping[str, dict[str, Any]], proposed: Mapping[str, Any]
) -> dict[str, Any]:
    """The arguments that ``proposed`` really changes (a form sent back whole changes only what
    differs), checked against the tool's editable fields and their schemas before anything is
    sent to a run: `EditRefused`, in one line, names what may not change or does not fit."""
    changed = {k: v for k, v in proposed.items() if k not in arguments or arguments[k] != v}
    fixed = sorted(k for k in changed if k not in editable)
    if fixed:
        allowed = ", ".join(editable) if editable else "nothing"
        raise EditRefused(
            f"{', '.join(fixed)} cannot be changed at this confirmation (editable: {allowed}); "
            "reject it with a note to ask for something else."
        )
    for name, value in changed.items():
        schema = editable[name]
        problems = [
            f"{name}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(value)
        ]
        problems += strict_problems({name: value}, {"properties": {name: schema}}, positive=True)
        if problems:
            raise EditRefused(f"{problems[0]}.")
    return changed


def edit_of(
    t: Tool, request: ConfirmationRequest, decision: Decision
) -> tuple[dict[str, Any], dict[str, Any] | None, Decision]:
    """What an approval changes in the call, and the changed call's arguments as the tool takes
    them (None: nothing changed). A change the tool does not allow or accept turns the answer
    into a rejection that says why: nothing runs that the person did not see priced."""
    if not decision.approved or not decision.arguments:
        return {}, None, decision
    try:
        changes = edits(request.arguments, request.editable, decision.arguments)
        return changes, t.validate(request.arguments | changes) if changes else None, decision
    except (EditRefused, ToolError) as exc:
        return (
            {},
            None,
            decision.model_copy(update={"approved": False, "note": f"The change was refused: {exc}"}),
        )
