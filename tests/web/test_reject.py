"""Rejecting a payment from the web page, by keyboard alone: the agent is told, nothing is charged."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.cli_process import run_errand
from tests.web.conftest import ServerFactory, Web, accessibility_problems, focus_is_visible
from tests.web.test_trip import FLIGHT

REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen."
ANSWER = "I did not book flight CA1101: you declined the payment, so nothing was charged."
SCRIPT: list[object] = [{"tool": "book_flight", "arguments": FLIGHT}, ANSWER]


def test_reject_a_payment_by_keyboard_and_nothing_is_charged(errand_server: ServerFactory, web: Web) -> None:
    server = errand_server(SCRIPT, token_delay_s=0.02)
    key = server.key("dave")
    before = run_errand(server.home, "services", "show", "--user", "dave")
    assert before.returncode == 0, before.stderr
    page = web.page

    # Keyboard only: the key field has focus on arrival; Enter signs in, Enter sends.
    page.goto(server.url + "/")
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_label("Your request")).to_be_focused()
    page.keyboard.type(REQUEST)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#run_"))

    dialog = page.get_by_role("dialog", name="Approve this payment?")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-later")).to_be_focused()
    page.keyboard.press("Shift+Tab")  # the note
    expect(page.get_by_label("Note for the agent (optional)")).to_be_focused()
    assert focus_is_visible(page)
    page.keyboard.type("Too expensive, take the train instead.")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#confirm-reject")).to_be_focused()
    assert focus_is_visible(page)
    web.shot("reject-with-note")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()

    card = page.locator("article[data-tool=book_flight]")
    expect(card.locator(".tool-state")).to_have_text("Not done: you rejected it")
    expect(card).to_contain_text("Rejected: “Too expensive, take the train instead.” Nothing was charged.")
    expect(card.locator(".tool-next")).to_have_text("Then the agent answered.")
    expect(page.get_by_label("Answer")).to_have_text(ANSWER)
    run_id = page.evaluate("location.hash.slice(1)")
    expect(page.locator(f"#runs-list button[data-run={run_id}]")).to_contain_text(re.compile("Done"))
    assert accessibility_problems(page) == []
    web.shot("rejected")

    after = run_errand(server.home, "services", "show", "--user", "dave")
    assert after.returncode == 0, after.stderr
    assert "Travel bookings: none" in after.stdout
    assert after.stdout == before.stdout  # balances and ledger untouched


def test_decide_later_then_stop_the_errand(errand_server: ServerFactory, web: Web) -> None:
    server = errand_server(SCRIPT)
    page = web.page
    web.sign_in(server, server.key("dave"))
    web.ask(REQUEST)
    dialog = page.get_by_role("dialog", name="Approve this payment?")
    dialog.get_by_role("button", name="Decide later").click()
    expect(dialog).to_be_hidden()
    review = page.get_by_role("button", name="Review the approval")
    expect(review).to_be_visible()
    review.click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")  # a native <dialog>: Escape closes it, the run still waits
    expect(dialog).to_be_hidden()
    page.locator("article[data-tool=book_flight]").get_by_role("button", name="Review and decide").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Decide later").click()

    page.get_by_role("button", name="Stop this errand").click()
    expect(page.locator(".failure")).to_contain_text("The errand was cancelled.")
    expect(page.locator("#run-status")).to_have_text("Stopped.")
    expect(page.get_by_role("button", name="Stop this errand")).to_be_hidden()
    expect(page.get_by_role("button", name="Review the approval")).to_be_hidden()
    expect(page.locator("#runs-list")).to_contain_text("Cancelled")
    card = page.locator("article[data-tool=book_flight]")
    expect(card.locator(".tool-state")).to_have_text("Not done")
    expect(card).to_contain_text("Not approved before the errand ended. Nothing was charged.")
    expect(card.get_by_role("button", name="Review and decide")).to_have_count(0)
    web.shot("cancelled")
    shown = run_errand(server.home, "services", "show", "--user", "dave")
    assert "Travel bookings: none" in shown.stdout
