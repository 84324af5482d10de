"""The agent's own decisions on the real embedded model (Qwen2.5-Coder-1.5B), as a user runs it
(`errand run --json --yes`): the services it chooses from the catalogue, a relative date
resolved against the clock, a search and then a booking for the name the user gave, paid
through the wallet after a confirmation that shows the amount and the name."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from errand.services.store import ServiceStore
from errand.services.travel.models import Booking
from errand.services.wallet import ledger
from tests.cli_process import json_events, run_errand


@pytest.mark.slow
def test_a_train_the_day_after_tomorrow_is_booked_on_that_day_and_paid(tmp_path: Path) -> None:
    day = date.today() + timedelta(days=2)
    task = "book the cheapest high-speed train from shanghai to hangzhou the day after tomorrow for Li Wei"
    # Four model steps: on a loaded 2-core machine they outlast the default 300 s budget, and
    # speed is the benchmarks' business, not this test's.
    proc = run_errand(tmp_path, "run", "--json", "--yes", task, env={"ERRAND_MAX_WALL_S": "900"}, timeout=960)
    events = json_events(proc)
    assert events and events[-1]["type"] == "run_finished", proc.stderr[-2000:]
    offered = events[0]["tools"]
    assert "search_trains" in offered and "request_viewing" not in offered  # the model chose travel
    (asked,) = [e for e in events if e["type"] == "confirmation_required"]
    assert "CNY" in asked["summary"] and "Li Wei" in asked["summary"]  # amount and names are shown
    store = ServiceStore.open(f"sqlite:///{tmp_path / 'errand.db'}", seed=False)
    with store.sessions() as s:
        (booking,) = s.scalars(select(Booking).where(Booking.user == "local")).all()
        assert booking.kind == "train" and booking.day == day and "Li Wei" in booking.names
        assert ledger.ledger_problems(s) == [] and all(v == 0 for v in ledger.ledger_sum(s).values())
        reference = f"BK-{booking.id:06d}"
    store.close()
    assert reference in events[-1]["answer"]


@pytest.mark.slow
def test_chat_asks_for_the_passenger_and_books_once_with_the_answer(tmp_path: Path) -> None:
    """A multi-turn errand on the bundled model (`errand chat`, a thread of durable runs): the
    request names no traveller, so the agent asks; the next message answers and the same
    errand goes on to one booking, paid once, for that name."""
    day = date.today() + timedelta(days=2)
    first = "Book the cheapest high-speed train from Shanghai to Hangzhou the day after tomorrow."
    proc = run_errand(
        tmp_path,
        "chat",
        env={"ERRAND_MAX_WALL_S": "900"},
        stdin=f"{first}\nLi Wei\ny\n\n",
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    store = ServiceStore.open(f"sqlite:///{tmp_path / 'errand.db'}", seed=False)
    with store.sessions() as s:
        (booking,) = s.scalars(select(Booking).where(Booking.user == "local")).all()
        assert booking.kind == "train" and booking.day == day and booking.names.splitlines() == ["Li Wei"]
        assert ledger.ledger_problems(s) == [] and all(v == 0 for v in ledger.ledger_sum(s).values())
        reference = f"BK-{booking.id:06d}"
    store.close()
    assert reference in proc.stdout
