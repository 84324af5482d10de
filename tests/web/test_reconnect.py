"""The server dies mid-answer (SIGKILL) and comes back: the page reconnects with Last-Event-ID and
the conversation ends whole, with no step missing or shown twice."""

from __future__ import annotations

import re

from playwright.sync_api import Request, expect

from tests.web.conftest import ServerFactory, Web
from tests.web.test_trip import TRIP_ANSWER, TRIP_REQUEST, TRIP_SCRIPT


def test_a_dropped_stream_resumes_from_the_last_event(errand_server: ServerFactory, web: Web) -> None:
    server = errand_server(TRIP_SCRIPT, token_delay_s=0.2)
    key = server.key("dave")
    page = web.page
    # Chromium itself logs each request that fails while the server is gone (refused, reset,
    # cut short); the page handles every one by reconnecting.
    web.allow_console_error(r"Failed to load resource: net::ERR_")
    resumed_from: list[int] = []

    def on_request(request: Request) -> None:
        if request.url.endswith("/events") and "last-event-id" in request.headers:
            resumed_from.append(int(request.headers["last-event-id"]))

    page.on("request", on_request)
    web.sign_in(server, key)
    run_id = web.ask(TRIP_REQUEST)
    dialog = page.get_by_role("dialog", name="Approve this payment?")
    expect(dialog).to_contain_text("CA1101")
    dialog.get_by_role("button", name="Approve").click()
    expect(dialog).to_contain_text("H-SY04")
    dialog.get_by_role("button", name="Approve").click()

    expect(page.locator(".text").last).to_contain_text("Done:")
    assert server.run(key, run_id)["status"] == "running"
    server.kill()
    expect(page.locator("#run-status")).to_have_text("Connection lost. Reconnecting…")
    web.shot("reconnecting")

    server.start()  # same home, port and worker id: the run resumes where it stopped
    answer = page.get_by_label("Answer")
    expect(answer).to_have_text(TRIP_ANSWER, timeout=60_000)
    expect(page.locator("#run-status")).to_have_text("Done.")
    expect(page.locator("article.tool")).to_have_count(2)
    expect(page.locator("article.tool .tool-state")).to_have_text([re.compile("^Done"), re.compile("^Done")])
    expect(page.locator("details.reasoning")).to_have_count(1)
    expect(page.locator(".answer, .text")).to_have_count(1)
    assert resumed_from and max(resumed_from) > 0, "the page never reconnected with Last-Event-ID"
    assert server.run(key, run_id)["status"] == "succeeded"
    web.shot("resumed")
