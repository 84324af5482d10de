"""A chat completion with ``model: "errand"`` is a run: a write or payment waits for the user,
who is asked in the conversation (tests/server/test_chat_runs.py has the yes and the no), unless
the user's own auto-approval policy covers it. Nothing is paid before the user answers."""

from __future__ import annotations

from sqlalchemy import func, select

from errand.llm.scripted import ScriptedModel, call
from errand.services.travel.models import Booking
from tests.server.conftest import Served, ServeFactory

BOOK = call("book_flight", flight_id="CA1101", passengers=["Dave Chen"], date="2027-01-15")
REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen."


def _bookings(served: Served) -> int:
    with served.state.store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Booking)) or 0)


def test_a_chat_completion_does_not_pay_before_the_user_answers(serve: ServeFactory, client_for) -> None:
    plan = {"topic": "travel", "tools": ["book_flight"], "verb": "book"}
    model = ScriptedModel([BOOK, "Booked."], per_conversation=True, structured=[plan])
    s = serve(model=model, open_runs=True)
    r = client_for(s, s.key("dave")).chat.completions.create(
        model="errand", messages=[{"role": "user", "content": REQUEST}]
    )
    assert "Reply **yes** to go ahead or **no** to cancel" in (r.choices[0].message.content or "")
    assert len(model.requests) == 1  # the model has not been told anything happened
    assert _bookings(s) == 0


def test_a_chat_completion_pays_what_the_users_policy_approves(serve: ServeFactory, client_for) -> None:
    plan = {"topic": "travel", "tools": ["book_flight"], "verb": "book"}  # the user asked to book
    model = ScriptedModel([BOOK, "Booked."], per_conversation=True, structured=[plan])
    s = serve(model=model, auto_approve_below="100000 CNY", open_runs=True)
    r = client_for(s, s.key("dave")).chat.completions.create(
        model="errand", messages=[{"role": "user", "content": REQUEST}]
    )
    assert (r.choices[0].message.content or "").startswith("Booked.")
    assert _bookings(s) == 1
