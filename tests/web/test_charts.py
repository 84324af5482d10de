"""A failed tool call shown in red with what the agent did next, and a chart shown inline through
the authenticated artifacts route (which serves nothing but the caller's run's own files)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.conftest import ServerFactory, Web, accessibility_problems, wait_until

REQUEST = "Compare 3-bedroom homes for sale in Hangzhou by value and show me a chart."
ANSWER = (
    "HZ-00484 leads the best-value 3-bedroom homes in Hangzhou, ranked by value score; the chart compares "
    "each home's price per square metre with its neighbourhood average."
)
SCRIPT: list[object] = [
    {"tool": "analyze_listings", "arguments": {"city": "Atlantis", "bedrooms": 3}},
    {"tool": "analyze_listings", "arguments": {"city": "Hangzhou", "bedrooms": 3}},
    ANSWER,
]


def test_error_card_and_inline_chart(errand_server: ServerFactory, web: Web) -> None:
    server = errand_server(SCRIPT)
    key = server.key("dave")
    page = web.page
    web.sign_in(server, key)
    run_id = web.ask(REQUEST)

    expect(page.get_by_label("Answer")).to_have_text(ANSWER)
    cards = page.locator("article[data-tool=analyze_listings]")
    expect(cards).to_have_count(2)
    failed = cards.nth(0)
    expect(failed).to_have_class(re.compile(r"\bfailed\b"))
    expect(failed.locator(".tool-state")).to_have_text(re.compile(r"^Failed"))
    expect(failed.locator(".tool-error")).to_contain_text("Unknown city 'Atlantis'")
    expect(failed.locator(".tool-next")).to_have_text("Then the agent called Analyze listings again.")
    color = failed.locator(".tool-error").evaluate("e => getComputedStyle(e).color")
    assert color == "rgb(185, 28, 28)"  # red

    chart = cards.nth(1).locator("figure.chart img")
    expect(chart).to_have_attribute("src", re.compile(r"^blob:"))
    expect(chart).to_have_attribute("alt", re.compile(r"^Chart from Analyze listings"))
    wait_until(lambda: chart.evaluate("img => img.complete && img.naturalWidth > 100"), what="the chart")
    at_end = "t => t.scrollHeight - t.scrollTop - t.clientHeight < 2"
    wait_until(
        lambda: page.locator("#transcript").evaluate(at_end), what="the end of the conversation in view"
    )
    chart.scroll_into_view_if_needed()
    assert accessibility_problems(page) == []
    web.shot("error-card-and-chart")

    # The route behind the chart: the run's own files, to the run's owner, and nothing else.
    name = str(cards.nth(1).locator("figure.chart").get_attribute("data-artifact"))
    assert name.endswith(".png")
    (server.home / "charts" / "not-this-runs.png").write_bytes(b"\x89PNG\r\n\x1a\nnot from this run")
    with server.api(key) as mine, server.api(server.key("erin")) as theirs:
        got = mine.get(f"/v1/runs/{run_id}/artifacts/{name}")
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/png"
        assert got.content.startswith(b"\x89PNG")
        assert theirs.get(f"/v1/runs/{run_id}/artifacts/{name}").status_code == 404
        for other in ("not-this-runs.png", "errand.db", "script.json"):
            assert mine.get(f"/v1/runs/{run_id}/artifacts/{other}").status_code == 404
        assert mine.get("/v1/runs/run_nope/artifacts/" + name).status_code == 404
    with server.api("errand-wrong-key") as anonymous:
        assert anonymous.get(f"/v1/runs/{run_id}/artifacts/{name}").status_code == 401
