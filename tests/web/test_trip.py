"""A trip booked from the web page: tool cards live, approvals in a dialog that survives a reload,
the answer streaming (and carrying on across a reload), and the booking in `errand services show`."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.cli_process import run_errand
from tests.web.conftest import ServerFactory, Web, accessibility_problems, focus_is_visible

TRIP_REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen, then 2 nights at hotel H-SY04 from 2027-01-15 for Dave Chen."
FLIGHT = {"flight_id": "CA1101", "passengers": ["Dave Chen"], "date": "2027-01-15"}
HOTEL = {"hotel_id": "H-SY04", "guests": ["Dave Chen"], "check_in": "2027-01-15", "nights": 2}
TRIP_ANSWER = (
    "Done: flight CA1101 (BK-000001) and hotel H-SY04 (BK-000002) are booked and paid for Dave Chen. The flight leaves on the day "
    "you asked for, the hotel holds your room for both nights, and both payments came from your wallet, "
    "so you can find them in your transaction history whenever you need the receipts for this trip."
)
TRIP_SCRIPT: list[object] = [
    # Raw model text, so the first step has reasoning for the page to fold.
    {
        "raw": "<think>The request names the flight and the hotel; book the flight first.</think>"
        f"<tool_call>{json.dumps({'name': 'book_flight', 'arguments': FLIGHT})}</tool_call>"
    },
    {"tool": "book_hotel", "arguments": HOTEL},
    TRIP_ANSWER,
]


def test_book_a_trip_approve_in_the_dialog_and_reload_mid_run(errand_server: ServerFactory, web: Web) -> None:
    server = errand_server(TRIP_SCRIPT, token_delay_s=0.12)
    made = run_errand(server.home, "keys", "create", "--user", "dave")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    page = web.page

    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert accessibility_problems(page) == []
    web.shot("sign-in")
    page.get_by_label("API key").fill(key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert page.evaluate("localStorage.getItem('errand.apiKey')") == key

    run_id = web.ask(TRIP_REQUEST)
    flight = page.locator("article[data-tool=book_flight]")
    expect(flight).to_be_visible()  # drawn from the live stream: the run waits for us now
    assert server.run(key, run_id)["status"] in ("running", "awaiting_confirmation")
    expect(flight.locator("dl.args")).to_contain_text("Flight ID")
    expect(flight.locator("dl.args")).to_contain_text("CA1101")
    reasoning = page.locator("details.reasoning").first
    expect(reasoning).to_contain_text("book the flight first")
    assert reasoning.get_attribute("open") is None  # folded

    dialog = page.get_by_role("dialog", name="Approve this payment?")
    expect(dialog).to_be_visible()
    for words in ("CA1101", "2027-01-15", "Dave Chen", "Wallet", "800.00"):
        expect(dialog).to_contain_text(words)
    expect(dialog.locator("#confirm-amount")).to_have_text(re.compile(r"CNY\s*800\.00"))
    assert accessibility_problems(page) == []
    web.shot("approve-flight")
    dialog.get_by_role("button", name="Approve").click()
    expect(flight.locator(".tool-state")).to_have_text(re.compile(r"^Done"))
    expect(flight).to_contain_text("Approved")

    # The hotel waits for approval; a reload brings the same dialog back (the run's `pending`).
    hotel = page.locator("article[data-tool=book_hotel]")
    expect(dialog).to_contain_text("H-SY04")
    page.reload()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("H-SY04")
    expect(dialog).to_contain_text("2 nights")
    web.shot("approve-hotel-after-reload")
    # Keyboard: from "Decide later" (focused first), Tab to Reject, Tab to Approve.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "confirm-approve"
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()

    # The answer streams; reload in the middle of it and the run carries on to the end.
    answer_text = page.locator(".text, .answer").last
    expect(answer_text).to_contain_text("Done:")
    assert server.run(key, run_id)["status"] == "running"
    page.reload()
    answer = page.get_by_label("Answer")
    expect(answer).to_have_text(TRIP_ANSWER, timeout=30_000)
    expect(page.locator("#run-status")).to_have_text("Done.")
    # Nothing twice: one card per call, one reasoning, one answer.
    expect(page.locator("article.tool")).to_have_count(2)
    expect(page.locator("details.reasoning")).to_have_count(1)
    expect(page.locator(".answer")).to_have_count(1)
    expect(hotel.locator(".tool-state")).to_have_text(re.compile(r"^Done"))
    expect(page.locator(f"#runs-list button[data-run={run_id}]")).to_contain_text("Done")
    assert accessibility_problems(page) == []
    web.shot("answer")

    shown = run_errand(server.home, "services", "show", "--user", "dave")
    assert shown.returncode == 0, shown.stderr
    assert "CA1101" in shown.stdout and "H-SY04" in shown.stdout
