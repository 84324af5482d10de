"""A chat completion with ``model: "errand"`` has no one to ask: a write or payment is refused
(the model is told to send the user to a run), unless the user's own auto-approval policy
covers it. Nothing a chat client sends can approve a payment."""

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


def test_a_chat_completion_cannot_pay_without_a_person(serve: ServeFactory, client_for) -> None:
    plan = {"topic": "travel", "tools": ["book_flight"], "verb": "book"}
    model = ScriptedModel([BOOK, "I could not book it here."], per_conversation=True, structured=[plan])
    s = serve(model=model)
    r = client_for(s, s.key("dave")).chat.completions.create(
        model="errand", messages=[{"role": "user", "content": REQUEST}]
    )
    assert r.choices[0].message.content == "I could not book it here."
    told = [m.content for m in model.requests[1][0] if m.role == "tool"]
    assert told and "start a run (POST /v1/runs)" in str(told[0])
    assert _bookings(s) == 0


def test_a_chat_completion_pays_what_the_users_policy_approves(serve: ServeFactory, client_for) -> None:
    plan = {"topic": "travel", "tools": ["book_flight"], "verb": "book"}  # the user asked to book
    model = ScriptedModel([BOOK, "Booked."], per_conversation=True, structured=[plan])
    s = serve(model=model, auto_approve_below="100000 CNY")
    r = client_for(s, s.key("dave")).chat.completions.create(
        model="errand", messages=[{"role": "user", "content": REQUEST}]
    )
    assert r.choices[0].message.content.startswith("Booked.")
    assert _bookings(s) == 1
