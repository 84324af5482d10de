"""`cancel_booking`: give the seats or rooms back and refund by the booking's rule."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.clock import local_time
from errand.services.travel.booking import _Raced
from errand.services.travel.common import _money, _session
from errand.services.travel.models import Booking, Fare, RoomNight
from errand.services.travel.refunds import _refund_for, _refund_rule
from errand.services.travel.views import _view
from errand.services.wallet import ledger
from errand.tools import FromResults, ToolContext, tool


def _booking_id(raw: str) -> int:
    m = re.fullmatch(r"\s*(?:BK-?)?(\d{1,9})\s*", raw, re.IGNORECASE)
    if not m:
        raise ToolError(f"Bad booking id {raw!r}: ids look like BK-000042 (see list_my_bookings).")
    return int(m.group(1))


def _mine(session: Session, ctx: ToolContext, booking_id: str) -> Booking:
    bid = _booking_id(booking_id)
    b = session.get(Booking, bid, populate_existing=True)
    if b is None or b.user != ctx.user:
        raise ToolError(f"No booking BK-{bid:06d} for {ctx.user}. See list_my_bookings.")
    return b


def _cancel_confirm(args: dict[str, Any], ctx: ToolContext) -> str:
    raw = str(args.get("booking_id") or "")
    try:
        session = _session(ctx)
        b = _mine(session, ctx, raw)
    except ToolError as exc:
        return f"Cancel booking {raw} ({exc})"
    give = _refund_for(b, local_time(ctx.now()))
    return (
        f"Cancel BK-{b.id:06d} ({b.kind} {b.item_id} on {b.day.isoformat()}, paid {_money(b.amount)}): "
        f"refund {_money(give)} to {ctx.user}'s wallet under the rule: {_refund_rule(b.kind, b.cabin)}."
    )


@tool(domain="travel", risk="write", confirm_text=_cancel_confirm)
def cancel_booking(
    ctx: ToolContext, booking_id: Annotated[str, FromResults("booking_id", "id", shape=r"BK-\d{6}")]
) -> dict[str, Any]:
    """Cancel a flight, train or hotel booking (BK-...); refunds by its fare rule.

    Args:
        booking_id: Id like BK-000042.
    """
    session = _session(ctx)
    b = _mine(session, ctx, booking_id)
    key = ctx.idempotency_key or None
    if key is not None:
        other = session.scalar(select(Booking).where(Booking.cancel_key == key))
        if other is not None and other.id != b.id:
            raise ToolError(
                f"This call's idempotency key already cancelled BK-{other.id:06d}; not cancelling another."
            )
    if b.status == "cancelled":
        return _view(session, b, replayed=True)
    at = ctx.now()
    now = local_time(at)
    if now >= b.starts_at:
        raise ToolError(
            f"BK-{b.id:06d} has already started ({b.starts_at:%Y-%m-%d %H:%M}); it cannot be cancelled."
        )
    give = _refund_for(b, now)
    try:
        with session.begin_nested():
            res = session.execute(
                update(Booking)
                .where(Booking.id == b.id, Booking.status == "confirmed")
                .values(status="cancelled", cancel_key=key, cancelled_at=now, refund_amount=give)
                .execution_options(synchronize_session=False)
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                raise _Raced
            if b.kind == "hotel":
                last = b.day + timedelta(b.nights - 1)
                session.execute(
                    update(RoomNight)
                    .where(RoomNight.hotel_id == b.item_id, RoomNight.night >= b.day, RoomNight.night <= last)
                    .values(rooms_left=RoomNight.rooms_left + b.quantity)
                    .execution_options(synchronize_session=False)
                )
            else:
                session.execute(
                    update(Fare)
                    .where(Fare.service_id == b.item_id, Fare.day == b.day, Fare.cabin == b.cabin)
                    .values(seats_left=Fare.seats_left + b.quantity)
                    .execution_options(synchronize_session=False)
                )
            if give:
                r = ledger.refund(
                    session,
                    payment_id=b.payment_id,
                    amount=give,
                    memo=f"cancel BK-{b.id:06d}",
                    idempotency_key=f"travel:cancel:{b.id}",
                    at=at,
                )
                session.execute(
                    update(Booking)
                    .where(Booking.id == b.id)
                    .values(refund_id=r.id)
                    .execution_options(synchronize_session=False)
                )
    except _Raced:
        return _view(session, _mine(session, ctx, booking_id), replayed=True)
    return _view(session, _mine(session, ctx, booking_id), replayed=False)
