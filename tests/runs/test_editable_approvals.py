"""Editable approvals on durable runs: the changed call is priced again, waits again, and books
what the person approved last; changes to fixed arguments never reach the run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from errand.config import Settings
from errand.errors import EditRefused
from errand.runs import Runs, RunStatus
from errand.services.travel.models import Booking

REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen and Ann Li."
TWO = {"flight_id": "CA1101", "passengers": ["Dave Chen", "Ann Li"], "date": "2027-01-15"}
SCRIPT: list[object] = [{"tool": "book_flight", "arguments": TWO}, "Booked flight CA1101 for Dave Chen."]


async def _waiting(runs: Runs, run_id: str, after: dict[str, Any] | None = None) -> dict[str, Any]:
    """The confirmation the run waits for, once it is another than ``after``."""
    async with asyncio.timeout(30):
        while True:
            rec = await runs.get("dave", run_id)
            if rec.status == RunStatus.awaiting_confirmation and rec.pending and rec.pending != after:
                return rec.pending
            await asyncio.sleep(0.05)


@pytest.fixture
async def runs(make_settings: Callable[..., Settings]) -> Any:
    r = await Runs.open(make_settings(SCRIPT))
    yield r
    r.close()


async def test_two_passengers_changed_to_one_book_one_seat_at_the_new_price(runs: Runs) -> None:
    rec = await runs.create("dave", REQUEST)
    first = await _waiting(runs, rec.id)
    assert first["arguments"]["passengers"] == ["Dave Chen", "Ann Li"]
    assert list(first["editable"]) == ["passengers"]

    await runs.approve("dave", rec.id, arguments={**TWO, "passengers": ["Dave Chen"]})
    second = await _waiting(runs, rec.id, after=first)
    assert second["call_id"] == first["call_id"] and second["arguments"]["passengers"] == ["Dave Chen"]
    assert second["amount"] * 2 == first["amount"]  # priced again for one seat
    assert "for Dave Chen (1 x" in second["summary"]

    await runs.approve("dave", rec.id)
    done = await runs.wait("dave", rec.id, timeout_s=30)
    assert done.status == RunStatus.succeeded, done.error
    with runs.store.sessions() as s:
        (booking,) = s.scalars(select(Booking).where(Booking.user == "dave"))
        assert (booking.quantity, booking.amount) == (1, second["amount"])
    resolved = [e.data for e in await runs.events("dave", rec.id) if e.type == "confirmation_resolved"]
    assert [(r["edited"], r["by"]) for r in resolved] == [
        ({"passengers": ["Dave Chen"]}, "dave"),
        ({}, "dave"),
    ]


async def test_a_change_to_a_fixed_argument_is_refused_and_the_run_still_waits(runs: Runs) -> None:
    rec = await runs.create("dave", REQUEST)
    first = await _waiting(runs, rec.id)
    with pytest.raises(EditRefused, match=r"^flight_id cannot be changed at this confirmation"):
        await runs.approve("dave", rec.id, arguments={"flight_id": "CA1102"})
    with pytest.raises(EditRefused, match=r"^passengers: 'Dave Chen' is not of type 'array'"):
        await runs.approve("dave", rec.id, arguments={"passengers": "Dave Chen"})
    waiting = await runs.get("dave", rec.id)
    assert waiting.status == RunStatus.awaiting_confirmation and waiting.pending == first
    await runs.cancel("dave", rec.id)
    assert (await runs.wait("dave", rec.id, timeout_s=30)).status == RunStatus.cancelled
