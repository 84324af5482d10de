"""A single-booking errand on the real embedded model: a train ticket, paid through the wallet."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from errand.services.store import ServiceStore
from errand.services.travel.models import Booking
from errand.services.wallet import ledger
from tests.cli_process import json_events, run_errand


@pytest.mark.slow
def test_the_embedded_model_books_and_pays_for_a_train(tmp_path: Path) -> None:
    task = "Book the train G16-20270320-second from Shanghai to Hangzhou for Li Wei"
    proc = run_errand(tmp_path, "run", "--json", "--yes", task, timeout=300)
    events = json_events(proc)
    assert events and events[-1]["type"] == "run_finished", proc.stderr[-2000:]
    (asked,) = [e for e in events if e["type"] == "confirmation_required"]
    assert "CNY" in asked["summary"] and "Li Wei" in asked["summary"]  # amount and names are shown
    store = ServiceStore.open(f"sqlite:///{tmp_path / 'errand.db'}", seed=False)
    with store.sessions() as s:
        (booking,) = s.scalars(select(Booking).where(Booking.user == "local")).all()
        assert booking.item_id == "G16" and booking.kind == "train" and "Li Wei" in booking.names
        assert ledger.ledger_problems(s) == [] and all(v == 0 for v in ledger.ledger_sum(s).values())
    store.close()
    assert "BK-" in events[-1]["answer"]
