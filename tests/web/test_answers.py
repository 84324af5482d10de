"""Answers that read well on the page: Markdown rendered and sanitised (a payload in an answer
never runs), tool cards that lead with what was found, numbers in the reader's locale, and a
status line that names the phase and counts its seconds."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.conftest import ServerFactory, Web, accessibility_problems

PAYLOAD = (
    '<img src="x" onerror="window.__pwned = 1"> <script>window.__pwned = 2</script> '
    "[click](javascript:void(window.__pwned=3))"
)
ANSWER = (
    "**Best value:** HZ-00446 in Gongshu.\n\n"
    "- 12 homes matched\n"
    "- Cheapest: HZ-00475\n\n"
    f"[Listing](https://example.com/HZ-00446) {PAYLOAD}"
)
SCRIPT: list[object] = [
    {"structured": {"topic": "homes in Hangzhou", "tools": ["analyze_listings"], "verb": "find_out"}},
    {
        "tool": "analyze_listings",
        "arguments": {"city": "Hangzhou", "bedrooms": 3, "max_price": 6_000_000, "min_school_rating": 9},
    },
    ANSWER,
]


def test_answer_is_markdown_and_a_payload_in_it_does_not_run(errand_server: ServerFactory, web: Web) -> None:
    # Paced so the status line can be read while the answer is written.
    server = errand_server(SCRIPT, token_delay_s=0.25)
    page = web.page
    web.sign_in(server, server.key("dave"))
    web.ask(
        "Find 3-bedroom homes in Hangzhou under 6 million yuan near a school rated 9 or better, "
        "and recommend the best value."
    )

    # While it writes: the phase and its seconds, with a spinner.
    expect(page.locator("#run-status")).to_have_text("Writing the answer…")
    expect(page.locator("#run-spinner")).to_be_visible()
    expect(page.locator("#run-elapsed")).to_have_text(re.compile(r"^[1-9]\d* s$"))
    expect(page.locator(".text strong")).to_have_text("Best value:")  # rendered as it streams
    web.shot("writing")

    answer = page.get_by_label("Answer")
    expect(answer.locator("strong")).to_have_text("Best value:")
    expect(answer.locator("li")).to_have_text(["12 homes matched", "Cheapest: HZ-00475"])
    link = answer.get_by_role("link", name="Listing")
    expect(link).to_have_attribute("href", "https://example.com/HZ-00446")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(page.locator("#run-status")).to_have_text("Done.")
    expect(page.locator("#run-spinner")).to_be_hidden()
    expect(page.locator("#run-elapsed")).to_be_hidden()

    # The payload: HTML shown as the text it is, no element or handler made of it, the
    # javascript: link without its href, and nothing ran (the console stayed clean: the page's
    # CSP never had to refuse a handler).
    assert page.locator("#transcript :is(script, [onerror], [onclick])").count() == 0
    assert answer.locator("img").count() == 0
    expect(answer).to_contain_text('<img src="x" onerror="window.__pwned = 1"> <script>')
    assert answer.locator("a", has_text="click").get_attribute("href") is None
    assert "**" not in answer.inner_text()
    assert page.evaluate("window.__pwned") is None

    # The card leads with what was found; what was asked is folded, its numbers grouped.
    card = page.locator("article[data-tool=analyze_listings]")
    first = card.locator(":scope > p").first
    expect(first).to_have_class(re.compile(r"\btool-result\b"))
    expect(first).to_contain_text("12 found")
    asked = card.locator("details.tool-asked")
    assert asked.get_attribute("open") is None
    expect(asked.locator("dl.args")).to_contain_text("6,000,000")
    assert accessibility_problems(page) == []
    web.shot("answer-markdown")

    page.reload()  # drawn again from the stored events: the same
    expect(page.get_by_label("Answer").locator("strong")).to_have_text("Best value:")
    assert page.evaluate("window.__pwned") is None
