"""The agent's own decisions on the real embedded model (Qwen2.5-Coder-1.5B): the services it
chooses from the catalogue, a relative date resolved against the clock, and a booking for the
name the user gave, as a user runs it (`errand run --json --yes`)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from errand.services.store import ServiceStore
from errand.services.travel.models import Booking
from tests.cli_process import json_events, run_errand


@pytest.mark.slow
def test_a_train_the_day_after_tomorrow_is_booked_on_that_day(tmp_path: Path) -> None:
    day = date.today() + timedelta(days=2)
    task = "book the cheapest high-speed train from shanghai to hangzhou the day after tomorrow for Li Wei"
    proc = run_errand(tmp_path, "run", "--json", "--yes", task, timeout=600)
    events = json_events(proc)
    assert events and events[-1]["type"] == "run_finished", proc.stderr[-2000:]
    offered = events[0]["tools"]
    assert "search_trains" in offered and "request_viewing" not in offered  # the model chose travel
    store = ServiceStore.open(f"sqlite:///{tmp_path / 'errand.db'}", seed=False)
    with store.sessions() as s:
        (booking,) = s.scalars(select(Booking).where(Booking.user == "local")).all()
        assert booking.kind == "train" and booking.day == day and "Li Wei" in booking.names
    store.close()
