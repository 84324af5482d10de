"""Changing a call in the page's approval dialog: two passengers become one, the dialog opens
again with the new price, and one seat is booked at it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.cli_process import run_errand
from tests.web.conftest import ServerFactory, Web, accessibility_problems

REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen and Ann Li."
TWO = {"flight_id": "CA1101", "passengers": ["Dave Chen", "Ann Li"], "date": "2027-01-15"}
ANSWER = "Booked flight CA1101 for Dave Chen."


def test_two_passengers_changed_to_one_in_the_dialog_book_one_seat_at_the_new_price(
    errand_server: ServerFactory, web: Web
) -> None:
    server = errand_server([{"tool": "book_flight", "arguments": TWO}, ANSWER])
    page = web.page
    web.sign_in(server, server.key("dave"))
    web.ask(REQUEST)

    dialog = page.get_by_role("dialog", name="Approve this payment?")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-summary")).to_contain_text("for Dave Chen, Ann Li (2 x 800.00 CNY)")
    passengers = dialog.get_by_label("Passengers (separate with commas)")
    expect(passengers).to_have_value("Dave Chen, Ann Li")
    expect(page.locator("#confirm-args")).to_contain_text("CA1101")  # what may not change is shown as text
    assert dialog.get_by_role("textbox").count() == 2  # the passengers and the note: nothing else is a field
    assert accessibility_problems(page) == []
    passengers.fill("Dave Chen")
    approve = dialog.get_by_role("button", name="Approve with changes")
    expect(approve).to_be_visible()
    expect(dialog).to_contain_text("priced again and shown to you before anything is done")
    web.shot("edit-approval")
    approve.click()

    # The same dialog, for the changed call: its new price, and the change recorded on the card.
    expect(page.locator("#confirm-summary")).to_contain_text("for Dave Chen (1 x 800.00 CNY): pay 800.00 CNY")
    expect(dialog).to_be_visible()
    expect(passengers).to_have_value("Dave Chen")
    card = page.locator("article[data-tool=book_flight]")
    expect(card).to_contain_text("Changed Passengers to Dave Chen (by dave). Priced again for your approval.")
    dialog.get_by_role("button", name="Approve", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_label("Answer")).to_contain_text(ANSWER)
    expect(card).to_contain_text("Approved.")

    shown = run_errand(server.home, "services", "show", "--user", "dave")
    assert shown.returncode == 0, shown.stderr
    assert "-800.00 CNY" in shown.stdout and "economy x1" in shown.stdout
    assert "-1,600.00 CNY" not in shown.stdout
