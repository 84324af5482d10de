"""Refund rules: what cancelling a flight, train or hotel booking gives back, and when."""

from __future__ import annotations

from datetime import datetime

from errand.services.travel.models import Booking


def _refund_rule(kind: str, cabin: str) -> str:
    if kind == "hotel":
        return "free cancellation until the day before check-in; later, the first night is not refunded"
    if kind == "train":
        return "95% back over 48 h before departure, 90% over 24 h, 80% later"
    if cabin == "business":
        return "100% back over 24 h before departure, 50% later"
    return "80% back over 24 h before departure, nothing later"


def _refund_for(b: Booking, now: datetime) -> int:
    """What cancelling ``b`` at ``now`` gives back, in minor units."""
    if b.kind == "hotel":
        if now.date() < b.day:
            return b.amount
        return b.amount * (b.nights - 1) // b.nights
    hours = (b.starts_at - now).total_seconds() / 3600
    if b.kind == "train":
        pct = 95 if hours > 48 else 90 if hours > 24 else 80
    elif b.cabin == "business":
        pct = 100 if hours > 24 else 50
    else:
        pct = 80 if hours > 24 else 0
    return b.amount * pct // 100
