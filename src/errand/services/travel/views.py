"""Bookings as the model and the user see them: every booking answer, and `list_my_bookings`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errand.services.travel.common import _money, _session
from errand.services.travel.models import Booking, Hotel, Service, TravelCity
from errand.services.travel.refunds import _refund_rule
from errand.tools import ToolContext, tool


def _view(session: Session, b: Booking, replayed: bool) -> dict[str, Any]:
    """A booking as the model and the user see it."""
    return _render(b, _item_label(session, b), replayed)


def _item_label(session: Session, b: Booking) -> str | None:
    """``H-BJ03 Hotel name`` or ``CA1501 Beijing → Shanghai`` (None for a service no longer there)."""
    if b.kind == "hotel":
        hotel = session.get(Hotel, b.item_id)
        return f"{b.item_id} {hotel.name if hotel else ''}".strip()
    svc = session.get(Service, b.item_id)
    if svc is None:
        return None
    a, z = session.get(TravelCity, svc.origin_city_id), session.get(TravelCity, svc.dest_city_id)
    return f"{svc.id} {a.name if a else ''} → {z.name if z else ''}"


@dataclass(frozen=True)
class _Shown:
    """What `_render` reads of a booking: a new booking is shown from its values, without an ORM object."""

    id: int
    status: str
    kind: str
    item_id: str
    day: date
    nights: int
    cabin: str
    quantity: int
    names: str
    starts_at: datetime
    amount: int
    payment_id: str
    refund_amount: int


def _render(b: Booking | _Shown, label: str | None, replayed: bool) -> dict[str, Any]:
    """`_view` once the item's label is known (a new booking knows it without a query)."""
    names = b.names.split("\n")
    out: dict[str, Any] = {"booking_id": f"BK-{b.id:06d}", "status": b.status, "kind": b.kind}
    if b.kind == "hotel":
        out |= {
            "hotel": label or b.item_id,
            "check_in": b.day.isoformat(),
            "check_out": (b.day + timedelta(b.nights)).isoformat(),
            "nights": b.nights,
            "rooms": b.quantity,
            "guests": names,
        }
    else:
        if label is not None:
            out[b.kind] = label
        out |= {
            "date": b.day.isoformat(),
            "depart": b.starts_at.strftime("%H:%M"),
            "class": b.cabin,
            "passengers": names,
        }
    out |= {"total": b.amount // 100, "total_text": _money(b.amount), "payment_id": b.payment_id}
    if b.status == "cancelled":
        out |= {"refund": b.refund_amount // 100, "refund_text": _money(b.refund_amount)}
    else:
        out["refund_rule"] = _refund_rule(b.kind, b.cabin)
    return out | {"replayed": replayed}


@tool(domain="travel")
def list_my_bookings(ctx: ToolContext) -> dict[str, Any]:
    """My flight, train and hotel bookings, newest first."""
    session = _session(ctx)
    rows = session.scalars(
        select(Booking)
        .where(Booking.user == ctx.user)
        .order_by(Booking.id.desc())
        .limit(10)
        .execution_options(populate_existing=True)
    ).all()
    count = session.scalar(select(func.count()).select_from(Booking).where(Booking.user == ctx.user)) or 0
    latest = [{k: v for k, v in _view(session, b, False).items() if k != "replayed"} for b in rows]
    return {"user": ctx.user, "bookings": count, "latest": latest}
