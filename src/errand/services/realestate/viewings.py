"""`request_viewing`: ask to view (看房) a home on a day; a repeated call answers with the first."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from errand.errors import ToolError
from errand.services.clock import local_day
from errand.services.realestate.common import _listing, _listing_id, _session
from errand.services.realestate.models import Viewing
from errand.tools import Editable, FromResults, FromUser, ToolContext, tool


def _viewing_text(args: dict[str, Any]) -> str:
    return (
        f"Request a viewing of listing {args.get('listing_id')} on {args.get('date')} "
        f"under the name {args.get('name')!r}; the seller's agent will get that name"
    )


def _viewing_result(v: Viewing, replayed: bool) -> dict[str, Any]:
    return {
        "viewing_id": f"VW-{v.id:05d}",
        "listing_id": v.listing_id,
        "date": v.day.isoformat(),
        "name": v.name,
        "status": "requested",
        "replayed": replayed,
    }


@tool(domain="realestate", risk="write", confirm_text=_viewing_text)
def request_viewing(
    ctx: ToolContext,
    listing_id: Annotated[str, FromResults("id", "listing_id", shape=r"[A-Z]{2}-\d{5}")],
    date: Annotated[str, Editable()],
    name: Annotated[str, FromUser("the name to book the viewing under"), Editable()],
) -> dict[str, Any]:
    """Ask to view (看房) a home listing on a day (needs the user's confirmation).

    Args:
        listing_id: Id like HZ-00042.
        date: Day, YYYY-MM-DD.
        name: Name to book under.
    """
    session = _session(ctx)
    key = ctx.idempotency_key or None
    if key is not None:
        done = session.scalar(select(Viewing).where(Viewing.idempotency_key == key))
        if done is not None:
            return _check_replay(done, listing_id, date, name)
    home = _listing(session, listing_id)
    try:
        day = _parse_day(date)
    except ValueError:
        raise ToolError(f"Bad date {date!r}: use YYYY-MM-DD.") from None
    today = local_day(ctx.now())
    if day < today:
        raise ToolError(f"{day.isoformat()} is in the past; today is {today.isoformat()}.")
    if home.status != "active":
        raise ToolError(f"{home.id} is {home.status.replace('_', ' ')}; only active listings can be viewed.")
    name = name.strip()
    if not name:
        raise ToolError("name must not be empty.")
    v = Viewing(listing_id=home.id, day=day, name=name, user=ctx.user, run_id=ctx.run_id, idempotency_key=key)
    try:
        # A savepoint, so a lost race rolls back only this insert, not the caller's transaction.
        with session.begin_nested():
            session.add(v)
    except IntegrityError:
        # The same call raced us and committed first: answer with its booking.
        done = session.scalar(select(Viewing).where(Viewing.idempotency_key == key))
        if done is None:
            raise
        return _check_replay(done, listing_id, date, name)
    session.flush()  # the caller's transaction commits it (one transaction per tool call)
    return _viewing_result(v, replayed=False)


def _parse_day(text: str) -> date:
    return date.fromisoformat(text.strip())


def _check_replay(done: Viewing, listing_id: str, date: str, name: str) -> dict[str, Any]:
    """The stored result of a repeated call; refuse if the repeat asks for something else."""
    try:
        same_day = done.day == _parse_day(date)
    except ValueError:
        same_day = False
    same = done.listing_id == _listing_id(listing_id) and same_day and done.name == name.strip()
    if not same:
        raise ToolError(
            "This call's idempotency key was already used for a different viewing "
            f"({done.listing_id} on {done.day.isoformat()}); not booking again."
        )
    return _viewing_result(done, replayed=True)
