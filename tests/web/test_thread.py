"""A conversation on the page is one thread: the agent asks who is flying, the person answers in
the same conversation, approves the payment, and the flight is booked once."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from errand.config import Settings
from errand.services.store import ServiceStore
from errand.services.travel.models import Booking
from tests.runs.test_threads import ASK_THEN_BOOK, BOOKED
from tests.web.conftest import ErrandServer, ServerFactory, Web, accessibility_problems

REQUEST = "Book flight CA1101 on 2027-01-15."


def _bookings(server: ErrandServer, user: str) -> int:
    store = ServiceStore.open(Settings(home=server.home).resolved_database_url(), seed=False)
    try:
        with store.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(Booking).where(Booking.user == user)) or 0)
    finally:
        store.close()


def _reads_in_order(page: Page) -> None:
    """The conversation top to bottom: the request, the question, the answer to it, the booking;
    each of the person's messages on the right, as a chat draws them."""
    turns = page.locator("#transcript").locator(".msg-user, .answer")
    expect(turns).to_have_count(4)
    expect(turns.nth(0)).to_have_accessible_name("Your message")
    expect(turns.nth(0)).to_have_text(REQUEST)
    expect(turns.nth(1)).to_have_accessible_name("Earlier answer")
    expect(turns.nth(1)).to_have_text("Who is flying?")
    expect(turns.nth(2)).to_have_accessible_name("Your request")
    expect(turns.nth(2)).to_have_text("Dave Chen")
    expect(turns.nth(3)).to_have_accessible_name("Answer")
    expect(turns.nth(3)).to_contain_text(BOOKED)
    edges = []
    for i in (0, 2):
        box = turns.nth(i).bounding_box()
        assert box is not None
        edges.append(round(box["x"] + box["width"]))
    assert edges[0] == edges[1], f"the earlier message is not aligned with the latest: {edges}"


def test_an_answer_on_the_page_continues_the_conversation_and_books_once(
    errand_server: ServerFactory, web: Web
) -> None:
    # The scripted model plays per conversation: a question, then (once the conversation holds
    # the answer) the booking, then its answer.
    server = errand_server(ASK_THEN_BOOK, token_delay_s=0.02)
    key = server.key("dave")
    page = web.page
    web.sign_in(server, key)

    first = web.ask(REQUEST)
    expect(page.get_by_label("Answer")).to_have_text("Who is flying?")
    expect(page.locator("#run-status")).to_have_text("Done.")
    expect(page.locator("#runs-list li")).to_have_count(1)
    web.shot("asked")

    # The answer goes in the same conversation: a new run in the same thread, not a new errand.
    second = web.ask("Dave Chen")
    assert second != first
    dialog = page.get_by_role("dialog", name="Approve this payment?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Dave Chen")
    web.shot("approve")
    dialog.get_by_role("button", name="Approve").click()
    expect(dialog).to_be_hidden()

    answer = page.get_by_label("Answer", exact=True)
    expect(answer).to_contain_text(BOOKED)
    expect(page.locator("#run-status")).to_have_text("Done.")
    _reads_in_order(page)
    # One conversation in the list, opening at its latest run.
    runs_list = page.locator("#runs-list li")
    expect(runs_list).to_have_count(1)
    expect(runs_list.get_by_role("button")).to_have_attribute("data-run", second)
    expect(runs_list).to_contain_text(REQUEST)
    expect(runs_list).to_contain_text(re.compile("Done"))
    assert accessibility_problems(page) == []
    web.shot("booked")

    assert _bookings(server, "dave") == 1
    with server.api(key) as client:
        threads = client.get("/v1/threads").json()["data"]
    assert [(t["runs"], t["last_run_id"], t["last_status"]) for t in threads] == [(2, second, "succeeded")]
    assert server.run(key, first)["thread_id"] == threads[0]["id"]

    page.reload()  # drawn again from the stored thread: the same conversation
    expect(page.get_by_label("Answer", exact=True)).to_contain_text(BOOKED)
    _reads_in_order(page)
    expect(page.locator("#runs-list li")).to_have_count(1)
